"""Filters against obviously correct references, over random inputs."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.sensors.filters import UNITS, build_chain, convert, interpolate

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=40), st.integers(min_value=1, max_value=10))
def test_moving_average_and_median_equal_the_reference(values, n):
    average = build_chain("q", "", [{"average": n}])
    median = build_chain("q", "", [{"median": n}])
    for i, v in enumerate(values):
        window = values[max(0, i - n + 1) : i + 1]
        assert average.apply(v, i) == pytest.approx(statistics.fmean(window), rel=1e-9, abs=1e-6)
        assert median.apply(v, i) == statistics.median(window)


@given(st.lists(finite, min_size=1, max_size=40), st.floats(min_value=0.01, max_value=1))
def test_exponential_equals_the_recurrence(values, alpha):
    chain, state = build_chain("q", "", [{"exponential": alpha}]), None
    for i, v in enumerate(values):
        state = v if state is None else alpha * v + (1 - alpha) * state
        assert chain.apply(v, i) == pytest.approx(state, rel=1e-9, abs=1e-6)


@given(finite, st.sampled_from(sorted(UNITS)), st.data())
def test_conversion_round_trips_within_a_dimension(value, unit, data):
    same = sorted(u for u, spec in UNITS.items() if spec[0] == UNITS[unit][0])
    other = data.draw(st.sampled_from(same))
    assert convert(convert(value, unit, other), other, unit) == pytest.approx(
        value, rel=1e-9, abs=1e-6
    )


@given(
    st.lists(st.tuples(finite, finite), min_size=2, max_size=8, unique_by=lambda p: p[0]), finite
)
@example([(0.0, 1.5), (5e-324, 0.0)], 0.0)  # points a subnormal apart: found by hypothesis
def test_lookup_passes_through_its_points_and_stays_between_neighbours(raw, x):
    points = sorted(raw)
    for px, py in points:
        assert interpolate(points, px) == pytest.approx(py, rel=1e-9, abs=1e-6)
    if points[0][0] <= x <= points[-1][0]:
        i = next(k for k in range(1, len(points)) if x <= points[k][0])
        lo, hi = sorted((points[i - 1][1], points[i][1]))
        assert lo - 1e-6 <= interpolate(points, x) <= hi + 1e-6
