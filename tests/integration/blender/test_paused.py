"""A pause (``<root>/paused``) shows in the blender's /v1/constants and status page."""

from __future__ import annotations

import httpx

from services.documents import PausedDocument, dump_document
from services.zk import ZkStore
from tests.integration.blender.conftest import BlenderFactory, constants, wait_for, write_constants

PAUSE = PausedDocument(reason="holiday freeze", since="2026-11-22T00:00:00Z")


def _paused(client: httpx.Client) -> object:
    return constants(client)["paused"]


def test_pause_and_resume_show_in_the_api_and_the_status_page(
    blender: BlenderFactory, store: ZkStore
) -> None:
    write_constants(store, 4, {"default": {"video": 0.5}})
    with blender() as client:
        wait_for(lambda: constants(client)["generation"] == 4, 5, "generation 4")
        assert _paused(client) is None
        assert "not paused" in client.get("/").text

        store.create(store.paths.paused, dump_document(PAUSE))
        wanted = {"reason": "holiday freeze", "since": "2026-11-22T00:00:00Z"}
        wait_for(lambda: _paused(client) == wanted, 2, "the pause in /v1/constants")
        page = client.get("/").text
        assert "PAUSED since 2026-11-22T00:00:00Z: holiday freeze" in page
        assert constants(client)["generation"] == 4  # the constants in use do not change

        node = store.read(store.paths.paused)
        assert node is not None
        store.delete(store.paths.paused, node.version)
        wait_for(lambda: _paused(client) is None, 2, "the resume in /v1/constants")
        assert "PAUSED" not in client.get("/").text
