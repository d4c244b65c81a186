"""The status page's history charts skip (and log) unreadable history entries."""

from __future__ import annotations

import logging

import pytest

from pid_controller.runner import run_once
from services.target_edits import apply_edit, set_targets
from services.zk import ZkStore
from tests.bad_documents import BAD_DOCUMENTS
from tests.integration.blender.conftest import BlenderFactory, generation, wait_for
from tests.integration.pid_controller.test_runner_ledger import CONFIG, at, counts


def test_bad_history_entries_are_skipped_logged_and_the_page_renders(
    blender: BlenderFactory, store: ZkStore, caplog: pytest.LogCaptureFixture
) -> None:
    apply_edit(store, set_targets("default", {"video": 0.155}, {}))
    for hour, video in enumerate([2_000, 1_700]):
        run_once(store, CONFIG, at=at(hour), fetch=counts({"g": (10_000, {"video": video})}))
    # Bad entries among the newest, where the page's reader looks first.
    bad = {
        store.paths.history_entry(3 + i): problem for i, (_, _, problem) in enumerate(BAD_DOCUMENTS)
    }
    for path, (_, raw, _) in zip(bad, BAD_DOCUMENTS, strict=True):
        store.create(path, raw)
    with caplog.at_level(logging.WARNING, logger="services.ledger"), blender() as client:
        wait_for(lambda: generation(client) == 2, 5, "generation 2")
        wait_for(lambda: "Recent history" in client.get("/").text, 5, "history on the page")
        page = client.get("/")
        assert page.status_code == 200
        assert "default / video" in page.text and "(last 2 windows)" in page.text
    skipped = [
        r.getMessage() for r in caplog.records if "unreadable history entry" in r.getMessage()
    ]
    for path, problem in bad.items():
        assert any(path in m and problem in m for m in skipped), path
