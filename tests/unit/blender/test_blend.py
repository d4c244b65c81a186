from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from blender.blend import (
    FLOAT_MAX,
    NUMPY_FROM,
    ScoreSpace,
    apply_constants,
    blend_and_rank,
    offsets_for,
    rank,
    rank_top,
    select_top,
)

TYPES = ["video", "image", "fresh"]

candidates = st.lists(
    st.tuples(
        st.sampled_from(range(len(TYPES))),
        # Few distinct values on purpose, so ties are common.
        st.sampled_from([-3.0, -1.5, -1.0, 0.0, 0.5, 2.0]),
    ),
    min_size=0,
    max_size=40,
)
constants = st.dictionaries(st.sampled_from(TYPES), st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]))


def naive(items: list[tuple[int, float]], consts: dict[str, float], linear: bool) -> list[float]:
    return [
        s * math.exp(consts.get(TYPES[t], 0.0)) if linear else s + consts.get(TYPES[t], 0.0)
        for t, s in items
    ]


@given(candidates, constants, st.none() | st.integers(0, 50))
def test_rank_is_sorted_permutation_matching_naive_formula(
    items: list[tuple[int, float]], consts: dict[str, float], limit: int | None
) -> None:
    codes = np.array([t for t, _ in items], dtype=np.intp)
    scores = np.array([s for _, s in items], dtype=np.float64)
    blended = apply_constants(scores, codes, offsets_for(TYPES, consts), "log")
    expected = naive(items, consts, linear=False)
    assert blended.tolist() == expected
    order = rank(blended, limit).tolist()
    full = sorted(range(len(items)), key=lambda i: (-expected[i], i))  # stable: ties by index
    assert order == full[: len(full) if limit is None else limit]


@given(candidates, constants)
def test_linear_space_multiplies_by_exp_u(
    items: list[tuple[int, float]], consts: dict[str, float]
) -> None:
    codes = np.array([t for t, _ in items], dtype=np.intp)
    scores = np.array([abs(s) + 0.1 for _, s in items], dtype=np.float64)
    blended = apply_constants(scores, codes, offsets_for(TYPES, consts), "linear")
    expected = naive([(t, abs(s) + 0.1) for t, s in items], consts, linear=True)
    assert np.allclose(blended, expected, rtol=0, atol=0)


def test_types_without_constant_are_unchanged() -> None:
    offsets = offsets_for(["video", "image"], {"video": 0.5, "unknown": 9.0})
    assert offsets.tolist() == [0.5, 0.0]


@settings(max_examples=200)
@given(
    st.integers(1, 6),
    st.integers(1, 30),
    st.integers(0, 35),
    st.randoms(use_true_random=False),
)
def test_select_top_agrees_with_rank_under_ties(rows: int, cols: int, k: int, rnd: object) -> None:
    rng = np.random.default_rng(abs(hash(rnd)) % 2**32)
    blended = rng.integers(0, 4, size=(rows, cols)).astype(np.float64)
    mask = select_top(blended, k)
    for r in range(rows):
        expected = np.zeros(cols, dtype=bool)
        expected[rank(blended[r], k)] = True
        assert mask[r].tolist() == expected.tolist()
        assert mask[r].sum() == min(k, cols)


@given(
    st.integers(0, 3000),
    st.integers(0, 2**32 - 1),
    st.none() | st.integers(0, 800),
)
def test_rank_top_equals_rank(n: int, seed: int, limit: int | None) -> None:
    # Few distinct values so ties straddle the cut; long arrays take the partition path.
    values = np.array([-2.0, -1.0, -0.0, 0.0, 0.5, 3.0])
    blended = np.random.default_rng(seed).choice(values, size=n)
    assert rank_top(blended, limit).tolist() == rank(blended, limit).tolist()


@settings(max_examples=300)
@given(
    st.integers(0, 400),
    st.integers(0, 2**32 - 1),
    st.none() | st.integers(0, 300),
    st.sampled_from(["log", "linear"]),
    constants,
)
def test_blend_and_rank_equals_apply_constants_and_rank(
    n: int, seed: int, limit: int | None, space: ScoreSpace, consts: dict[str, float]
) -> None:
    """Both paths (lists below NUMPY_FROM, numpy above) give rank()'s order and the
    very floats of apply_constants, ties and huge (saturating) values included."""
    assert 0 < NUMPY_FROM < 400  # both paths are drawn
    rng = np.random.default_rng(seed)
    pool = [0.5, 2.0, 3.0, 1e308] if space == "linear" else [-1e308, -2.0, -0.0, 0.0, 0.5, 1e308]
    scores = rng.choice(np.array(pool), size=n)
    codes = rng.integers(0, len(TYPES), size=n)
    offsets = {t: consts.get(t, 0.0) for t in TYPES}
    table = offsets_for(TYPES, consts)
    with np.errstate(over="ignore"):
        expected = apply_constants(scores, codes, table, space)
    np.clip(expected, -FLOAT_MAX, FLOAT_MAX, out=expected)
    order, values = blend_and_rank(
        scores.tolist(), [TYPES[c] for c in codes], offsets, space, limit
    )
    assert order == rank(expected, limit).tolist()
    assert values == expected[order].tolist()


@settings(max_examples=50)
@given(st.integers(1000, 3000), st.integers(0, 2**32 - 1), st.none() | st.integers(250, 3000))
def test_rank_top_equals_rank_without_ties(n: int, seed: int, limit: int | None) -> None:
    """Distinct values: the path through numpy's unstable sort (ties: the test above)."""
    blended = np.random.default_rng(seed).standard_normal(n)
    assert rank_top(blended, limit).tolist() == rank(blended, limit).tolist()
