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


# ---------------------------------------------------------------------------------------------
# Korean text in figures: the Hangul font when there is one, never boxes or glyph warnings without

def drawn_texts(fig):
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(lambda artist: hasattr(artist, "get_text")) if t.get_text()]


def has_hangul(text):
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def korean_figures():
    """Figures with Korean titles and labels, as the quizzes draw them."""
    return [
        plots.result_grid(squares(2), [0.4, -0.1], labels=["그림 1", ("그림 2", "picture 2")],
                          title="퀴즈 7: 이 그림들을 찾는 텍스트는?"),
        plots.bar_chart(["고양이", ("강아지", "dog")], [0.3, -0.2], title=("점수", "scores"), xlabel="코사인 유사도"),
        plots.heatmap(torch.zeros(2, 2), ["텍스트 1", "텍스트 2"], ["그림 1", "그림 2"], title="유사도"),
        plots.image_and_bars(squares(1)[0], ["고양이"], [0.5], title="그림"),
    ]


@pytest.fixture
def no_hangul_font(monkeypatch):
    """A machine without any Hangul font: matplotlib's font list and the system's font files hold none."""
    from matplotlib import font_manager
    latin_only = [entry for entry in font_manager.fontManager.ttflist if entry.name == "DejaVu Sans"]
    assert latin_only, "matplotlib ships DejaVu Sans; without it this test cannot simulate anything"
    monkeypatch.setattr(font_manager.fontManager, "ttflist", latin_only)
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *args, **kwargs: [])
    forget_font_lookups()
    with plt.rc_context():
        yield
    monkeypatch.undo()
    forget_font_lookups()
    plots.use_hangul_font()


def forget_font_lookups():
    """matplotlib caches which file each font request resolved to; the simulation changes the answers."""
    from matplotlib import font_manager
    plots.hangul_font.cache_clear()
    for cached in (getattr(font_manager.FontManager, "_findfont_cached", None), getattr(font_manager, "_get_font", None)):
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


def test_the_simulated_machine_really_has_no_hangul_font(no_hangul_font):
    assert plots.hangul_font() is None
    plots.use_hangul_font()
    fig, ax = plt.subplots()
    ax.set_title("그림")                 # drawn without the module's help: this must warn, or the test below proves nothing
    with pytest.warns(UserWarning, match="Glyph .* missing"):
        fig.canvas.draw()


def test_without_a_hangul_font_figures_draw_no_boxes_and_no_glyph_warnings(no_hangul_font, recwarn):
    texts = [text for fig in korean_figures() for text in drawn_texts(fig)]
    glyph_warnings = [str(w.message) for w in recwarn if "Glyph" in str(w.message)]
    assert not glyph_warnings, f"missing-glyph warnings: {glyph_warnings[:3]}"
    assert not [text for text in texts if has_hangul(text)], "Hangul drawn without a font that has it"
    assert "picture 2" in "\n".join(texts) and "scores" in texts and "dog" in texts, "pairs must show their English half"
    assert "geurim 1" in "\n".join(texts), "Korean without an English half is romanised"


def test_with_a_hangul_font_figures_show_the_korean(recwarn):
    plots.hangul_font.cache_clear()
    if plots.hangul_font() is None:
        pytest.skip("no Hangul font installed here (Debian: apt-get install fonts-nanum)")
    texts = [text for fig in korean_figures() for text in drawn_texts(fig)]
    glyph_warnings = [str(w.message) for w in recwarn if "Glyph" in str(w.message)]
    assert not glyph_warnings, f"missing-glyph warnings: {glyph_warnings[:3]}"
    joined = "\n".join(texts)
    assert "퀴즈 7: 이 그림들을 찾는 텍스트는?" in joined and "그림 2" in joined and "점수" in texts


def test_romanize_writes_hangul_in_latin_letters_and_keeps_the_rest():
    assert plots.romanize("그림 1") == "geurim 1"
    assert plots.romanize("퀴즈 2의 목표 (Top-3)") == "kwijeu 2ui mokpyo (Top-3)"
