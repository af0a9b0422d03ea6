"""The SVG charts: order, geometry and escaping from known numbers."""

import re
import xml.etree.ElementTree as ET

from app.charts import RatingPoint, nice_ticks, rating_plot, win_rate_heatmap

NS = {"s": "http://www.w3.org/2000/svg"}


def test_nice_ticks():
    assert nice_ticks(912, 1113) == [950, 1000, 1050, 1100]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(5, 5) == [4, 4.5, 5, 5.5, 6]


def test_rating_plot_orders_best_first_and_places_whiskers():
    svg = str(rating_plot([RatingPoint("Low <b>", 950, 900, 1000), RatingPoint("High", 1100, 1060, 1150),
                           RatingPoint("New", 1000, 850, 1200, provisional=True)]))
    root = ET.fromstring(svg)  # well-formed XML, names escaped
    groups = root.findall("s:g", NS)
    assert [g.get("data-label") for g in groups] == ["High", "New", "Low <b>"]
    assert "<b>" not in svg and "Low &lt;b&gt;" in svg
    assert groups[1].get("class") == "point provisional"
    # the dot sits inside its whisker, and a higher rating is further right
    xs = []
    for g in groups:
        whisker = g.find("s:line[@class='whisker']", NS)
        dot = float(g.find("s:circle", NS).get("cx"))
        assert float(whisker.get("x1")) < dot < float(whisker.get("x2"))
        xs.append(dot)
    assert xs[0] > xs[1] > xs[2]
    assert "95 % interval 1060–1150" in svg


def test_rating_plot_without_intervals_and_empty():
    svg = str(rating_plot([RatingPoint("Only", 1000)]))
    assert "whisker" not in svg and "<circle" in svg
    assert str(rating_plot([])) == ""


def test_heatmap_cells_colours_and_blanks():
    labels = ["A & co", "B", "C"]
    rate = {(0, 1): 0.75, (1, 0): 0.25, (0, 2): 0.5, (2, 0): 0.5}
    games = {(0, 1): 4, (1, 0): 4, (0, 2): 2, (2, 0): 2}
    svg = str(win_rate_heatmap(labels, rate, games))
    root = ET.fromstring(svg)
    cells = {(g.get("data-row"), g.get("data-col")): g for g in root.findall("s:g", NS)}
    assert set(cells) == {("A & co", "B"), ("B", "A & co"), ("A & co", "C"), ("C", "A & co")}
    assert cells[("A & co", "B")].find("s:text", NS).text == "75"
    assert "A &amp; co vs B: 75% over 4 votes" in svg
    green = cells[("A & co", "B")].find("s:rect", NS).get("fill")
    red = cells[("B", "A & co")].find("s:rect", NS).get("fill")
    r_g, g_g, _ = map(int, re.findall(r"\d+", green))
    r_r, g_r, _ = map(int, re.findall(r"\d+", red))
    assert g_g > r_g and r_r > g_r
    assert len(root.findall("s:rect[@class='cell empty']", NS)) == 2  # B–C never compared
    assert len(root.findall("s:rect[@class='cell diagonal']", NS)) == 3
