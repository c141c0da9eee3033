"""The page's sensor history: a fixed-size ring per quantity that starts at the read interval,
halves its resolution until it covers the span, then overwrites its oldest point."""

from drivers.base import Reading
from gateway.web.history import POINT_BYTES, History, Series
from gateway.web.page import plot_window, polyline


def test_a_fresh_series_keeps_every_reading_at_its_interval():
    series = Series(points=8, step=1.0, origin=0.0, span=100.0)
    for t in range(5):
        series.add(float(t), now=float(t))
    assert series.points(now=4.0, span=100.0) == [
        (4.0, 0.0),
        (3.0, 1.0),
        (2.0, 2.0),
        (1.0, 3.0),
        (0.0, 4.0),
    ]


def test_two_readings_in_one_step_keep_the_newer():
    series = Series(points=8, step=10.0, origin=0.0, span=100.0)
    series.add(1.0, now=1.0)
    series.add(2.0, now=5.0)
    assert series.points(now=5.0, span=100.0) == [(0.0, 2.0)]


def test_a_full_ring_halves_its_resolution_until_it_covers_the_span_then_overwrites():
    series = Series(points=8, step=1.0, origin=0.0, span=32.0)
    for t in range(200):
        series.add(float(t), now=float(t))
        assert series.count <= 8
    assert series.step * 8 >= 32  # 1 -> 2 -> 4 s: covers the span
    points = series.points(now=199.0, span=32.0)
    assert points[-1] == (0.0, 199.0)  # the newest reading is always kept
    assert all(age <= 32 for age, _ in points)
    assert series.overwritten > 0
    ages = [age for age, _ in points]
    assert ages == sorted(ages, reverse=True)


def test_history_skips_text_values_and_states_its_size():
    history = History(span=3600, points=720, origin=0.0)
    history.intervals["s"] = 5.0
    history.record(
        "s",
        [Reading("temperature", 21.5, "°C"), Reading("state", "open"), Reading("motion", True)],
        now=10.0,
    )
    assert set(history.of("s", 10.0)) == {"temperature", "motion"}
    assert history.of("s", 10.0)["motion"] == [(0.0, 1.0)]
    assert history.bytes == 2 * 720 * POINT_BYTES


def test_the_plot_spans_the_data_it_has_and_at_most_the_span():
    assert plot_window([(30.0, 1.0), (0.0, 2.0)], span=86400) == 60.0
    assert plot_window([(7200.0, 1.0), (0.0, 2.0)], span=86400) == 7200.0
    assert plot_window([(90000.0, 1.0)], span=86400) == 86400
    assert polyline([(60.0, 1.0), (0.0, 3.0)], span=86400) == "0.0,56.0 300.0,4.0"
    assert polyline([], span=60) == ""
