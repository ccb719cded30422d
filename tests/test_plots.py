"""The lessons' pictures carry the numbers they are drawn from: rank and score, values in cells."""
import matplotlib.pyplot as plt
import pytest
import torch
from PIL import Image

from clipcourse import plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def squares(n):
    return [Image.new("RGB", (32, 32), (40 * i, 100, 200)) for i in range(n)]


def titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_result_grid_titles_each_image_with_rank_score_and_label():
    fig = plots.result_grid(squares(3), torch.tensor([0.9, 0.51234, -0.2]), labels=["a.png", "b.png", "c.png"],
                            title="Top-3")
    assert titles(fig) == ["#1  score 0.900\na.png", "#2  score 0.512\nb.png", "#3  score -0.200\nc.png"]
    assert fig._suptitle.get_text() == "Top-3"


def test_result_grid_without_scores_shows_labels_only():
    fig = plots.result_grid(squares(2), labels=["dog_0.png", "dog_1.png"])
    assert titles(fig) == ["dog_0.png", "dog_1.png"]


def test_result_grid_refuses_a_score_count_that_does_not_match():
    with pytest.raises(ValueError, match="2 images but 3 scores"):
        plots.result_grid(squares(2), [0.1, 0.2, 0.3])


def test_heatmap_writes_every_value_in_its_cell():
    matrix = torch.tensor([[0.1, 0.25, -0.5], [1.0, 0.0, 0.333]])
    fig = plots.heatmap(matrix, ["A cat", "A dog"], ["x", "y", "z"], vmin=-1, vmax=1)
    written = [text.get_text() for text in fig.axes[0].texts]
    assert written == ["0.10", "0.25", "-0.50", "1.00", "0.00", "0.33"]


def test_heatmap_refuses_labels_that_do_not_match_the_matrix():
    with pytest.raises(ValueError, match="does not match"):
        plots.heatmap(torch.zeros(2, 3), ["a", "b"], ["x", "y"])


def test_bar_chart_and_image_and_bars_write_each_value():
    fig = plots.bar_chart(["A dog", "A cat"], [0.2, -0.05])
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.200", "-0.050"]
    fig = plots.image_and_bars(squares(1)[0], ["A dog", "A cat", "A nuclear submarine"], [0.1, 0.3, 0.0])
    assert [t.get_text() for t in fig.axes[1].texts] == ["0.100", "0.300", "0.000"]
