"""Clean English captions for clip-art files: no author names, no numbering, no file-name noise.

Openclipart file names look like ``{title}_{author, truncated}_{nn}`` (``dog_head_nicu_buculei_01``,
``bobi_architetto_francesc_01``) and one prolific author named his drawings in Italian (``gatto``,
``cane``). The SVG twin of each PNG carries a title, keywords and the creator's name. We

1. strip a trailing author slug (any suffix of the name that is a prefix of the creator's name),
2. drop numbers and tokens that are not English words (SCOWL word list; capitalised entries such as
   first names only under geography and flags, where they are place names),
3. translate the Italian/French words that occur often enough to matter (small table below),
4. remove every token of every author's name that is not an ordinary lowercase English word.
"""
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

WORDLIST = Path("/usr/share/dict/american-english")  # Debian package wamerican (SCOWL), build time only

# Italian (Architetto Francesco Rollandin) and French (Jean-Victor Balin, Yves Guillou) words seen in
# file names and titles, translated by hand. Only words that name what is drawn.
FOREIGN = {
    "gatto": "cat", "gatti": "cats", "gattina": "kitten", "cane": "dog", "cani": "dogs", "cagnolino": "puppy",
    "cavallo": "horse", "leone": "lion", "tigre": "tiger", "tigri": "tigers", "orso": "bear", "coniglio": "rabbit",
    "elefante": "elephant", "canguro": "kangaroo", "pecora": "sheep", "topo": "mouse", "toro": "bull",
    "vacca": "cow", "mucca": "cow", "antilope": "antelope", "stambecco": "ibex", "pinguino": "penguin",
    "lucertola": "lizard", "lucertolona": "lizard", "lucertolone": "lizard", "ramarro": "lizard",
    "rana": "frog", "acquila": "eagle", "aquila": "eagle", "cigno": "swan", "cigni": "swans",
    "gabbiano": "seagull", "gallo": "rooster", "gufo": "owl", "civetta": "owl", "pollo": "chicken",
    "tacchino": "turkey", "uccello": "bird", "uccelli": "birds", "stormo": "flock", "cavalletta": "grasshopper",
    "coccinella": "ladybug", "coccinellona": "ladybug", "farfalla": "butterfly", "farfalle": "butterflies",
    "formica": "ant", "formichina": "ant", "formicona": "ant", "insetto": "insect", "libellula": "dragonfly",
    "lumaca": "snail", "mantide": "mantis", "zanzara": "mosquito", "moschito": "mosquito", "ragno": "spider",
    "ragnetto": "spider", "dinosauro": "dinosaur", "dinosauri": "dinosaurs", "pesce": "fish",
    "pescetto": "fish", "orme": "footprints", "neve": "snow", "lucchetto": "padlock", "sedia": "chair",
    "poltrona": "armchair", "tavolo": "table", "ombrelloni": "umbrellas", "ombrellone": "umbrella",
    "casa": "house", "villa": "villa", "abitazione": "house", "libro": "book", "ricette": "recipes",
    "finestra": "window", "finestre": "windows", "stampante": "printer", "schermo": "screen",
    "pulsante": "button", "tasto": "key", "cubo": "cube", "giallo": "yellow", "rosso": "red", "verde": "green",
    "nero": "black", "bianco": "white", "bianchi": "white", "neri": "black", "grigio": "grey", "arancione": "orange",
    "blu": "blue", "azzurro": "blue", "rosa": "pink", "cesto": "basket", "borsa": "bag", "valigie": "suitcases",
    "decorazione": "decoration", "telecamera": "video camera", "cinepresa": "film camera",
    "macchina": "machine", "fotografica": "photo", "bottiglia": "bottle", "vino": "wine", "birra": "beer",
    "lattine": "cans", "caffe": "coffee", "tazza": "cup", "teiera": "teapot", "torta": "cake",
    "gelato": "ice cream", "prugna": "plum", "pera": "pear", "pesca": "peach", "mela": "apple",
    "arancia": "orange", "banana": "banana", "uva": "grapes", "fragola": "strawberry", "limone": "lemon",
    "ciliegia": "cherry", "ciliegie": "cherries", "pomodori": "tomatoes", "pomodoro": "tomato",
    "aglio": "garlic", "pannocchia": "corn cob", "fuoco": "fire", "pizza": "pizza", "frullatore": "blender",
    "albero": "tree", "alberi": "trees", "fiore": "flower", "fiori": "flowers", "sole": "sun", "luna": "moon",
    "stella": "star", "stelle": "stars", "nuvola": "cloud", "pioggia": "rain", "montagna": "mountain",
    "mare": "sea", "barca": "boat", "nave": "ship", "auto": "car", "automobile": "car", "bicicletta": "bicycle",
    "treno": "train", "aereo": "airplane", "camion": "truck", "moto": "motorbike", "chiave": "key",
    "martello": "hammer", "forbici": "scissors", "matita": "pencil", "penna": "pen", "orologio": "clock",
    "telefono": "telephone", "lampada": "lamp", "ombrello": "umbrella", "cappello": "hat", "scarpa": "shoe",
    "scarpe": "shoes", "occhiali": "glasses", "chitarra": "guitar", "pianoforte": "piano", "tamburo": "drum",
    "palla": "ball", "pallone": "ball", "bambino": "child", "bambina": "girl", "uomo": "man", "donna": "woman",
    "mano": "hand", "occhio": "eye", "faccia": "face", "testa": "head", "cuore": "heart", "profilo": "profile",
    "chiesa": "church", "castello": "castle", "ponte": "bridge", "campagna": "countryside",
    "papillon": "butterfly", "chat": "cat", "chien": "dog", "oiseau": "bird", "poisson": "fish",
    "cheval": "horse", "vache": "cow", "cochon": "pig", "lapin": "rabbit", "souris": "mouse",
    "voiture": "car", "maison": "house", "arbre": "tree", "fleur": "flower", "pomme": "apple",
    "poire": "pear", "fraise": "strawberry", "bateau": "boat", "avion": "airplane", "velo": "bicycle",
    "flamand": "flamingo", "pansement": "bandage", "telephone": "telephone", "incendie": "fire",
    "lutte": "fighting", "comburant": "oxidizer", "chapeau": "hat", "lunettes": "glasses",
    "parapluie": "umbrella", "fusee": "rocket", "soleil": "sun", "lune": "moon", "etoile": "star",
    "nuage": "cloud", "montagne": "mountain", "escargot": "snail", "araignee": "spider", "abeille": "bee",
    "grenouille": "frog", "tortue": "turtle", "canard": "duck", "poule": "hen", "coq": "rooster",
    "ours": "bear", "loup": "wolf", "renard": "fox", "singe": "monkey", "lion": "lion",
}
# Italian/French words that are also English words with another meaning: translated, never kept as is.
FALSE_FRIENDS = {"cane", "pesca", "rana", "pera", "gallo", "pollo", "tigre", "sole", "mare", "moto", "chat",
                 "lapin", "coq", "lune", "arbre", "poire", "singe", "ours", "lutte", "poisson", "cheval",
                 "mobile", "dino", "casa", "verde", "rosso", "nero", "blu", "rosa", "torta", "bobi",
                 "stella", "luna", "villa"}
# words that describe the file, not the picture
NOISE = {"svg", "png", "clipart", "clip", "art", "openclipart", "icon", "icons", "theme", "themes",
         "collection", "version", "copy", "file", "files", "lemon", "etiquette", "flat", "hash",
         "untitled", "unnamed", "public", "domain", "image", "images", "drawing", "picture", "simple",
         "stylized", "misc", "various", "new", "old", "remix", "sample", "test", "eps", "converted",
         "from", "www", "com", "org", "http", "https", "gif", "jpg", "wikipedia", "commons", "inkscape",
         "aiga", "mapsym", "sym", "by", "unsorted", "special", "cc", "ccby", "gpl", "gnome", "kde", "gtk",
         "stock", "xfce", "step", "pt", "alt", "contour", "bw", "shaded", "colour", "color", "colored", "coloured", "bordered"}
# keywords too generic to name a drawing on their own
GENERIC_KEYWORDS = {"computer", "shape", "shapes", "people", "sign", "signs", "symbol", "symbols", "activities",
                    "recreation", "animal", "animals", "mammal", "mammals", "object", "objects", "holiday",
                    "office", "work", "geometry", "misc", "clipart", "media", "element", "elements",
                    "transportation", "transport", "food", "education", "tools", "tool", "buildings", "decorations",
                    "menu", "action", "device", "filesystem", "mimetypes", "application", "applications", "old",
                    "stickmen", "cartoon", "design", "nature", "home", "black", "white", "line", "outline"}
# titles that describe a collection or a file, not a drawing
JUNK_TITLE = re.compile(r"collection|theme|part of|icon set|clip ?arts?\b|\bsvg\b|library|series|various|"
                        r"symbol signs|map symbols|road signs|\bby\b|\d{4}|#", re.I)
PLACE_FOLDERS = ("geography", "signs_and_symbols/flags")
KEEP_SHORT = {"a", "i", "tv", "cd", "pc", "dvd", "usb", "ok", "uk", "us", "usa", "pi", "ox", "ax", "up", "on",
              "in", "of", "at", "to", "no", "go", "my", "me", "we", "he", "it", "is", "an", "or", "by", "x"}


def ascii_fold(text):
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def slug(text):
    return re.sub(r"[^a-z0-9]+", "_", ascii_fold(text).lower()).strip("_")


@lru_cache(maxsize=1)
def english_words():
    """(lowercase words, words that exist only capitalised such as names and places)."""
    lower, proper = set(), set()
    if WORDLIST.exists():
        for w in WORDLIST.read_text(encoding="utf-8", errors="ignore").split():
            if "'" in w:
                continue
            (lower if w.islower() else proper).add(ascii_fold(w).lower())
    else:  # pragma: no cover - the training script checks for the word list before building the corpus
        raise SystemExit(f"{WORDLIST} missing: apt-get install wamerican")
    return lower, proper - lower


def strip_author(stem_slug, creator_slug):
    """Remove the longest '_'-bounded suffix of the file stem that is a prefix of the creator's slug."""
    if not creator_slug:
        return stem_slug
    parts = stem_slug.split("_")
    for i in range(len(parts)):  # i=0 is the whole stem (a drawing named after its author)
        suffix = "_".join(parts[i:])
        if creator_slug.startswith(suffix) and (len(suffix) >= 3 or suffix == creator_slug):
            return "_".join(parts[:i])
    return stem_slug


def words_of(text, author_tokens=frozenset(), places=False):
    """English words of a slug or title, translated where needed, in order, without noise."""
    lower, proper = english_words()
    out = []
    for tok in re.findall(r"[a-z]+", ascii_fold(text).lower()):
        if tok in FOREIGN:
            out.extend(FOREIGN[tok].split())
            continue
        if tok in FALSE_FRIENDS or tok in NOISE or tok in author_tokens:
            continue
        if len(tok) <= 2 and tok not in KEEP_SHORT:
            continue
        if tok in lower or tok in KEEP_SHORT or (places and tok in proper):
            out.append(tok)
    # collapse immediate repeats ("lizard lizard")
    return [w for i, w in enumerate(out) if i == 0 or w != out[i - 1]]


def singular(word):
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def author_token_set(creators):
    """Tokens of all creators' names that are not ordinary lowercase English words (nicu, buculei...)."""
    lower, _ = english_words()
    toks = set()
    for c in creators:
        for t in slug(c).split("_"):
            if len(t) >= 3 and t not in lower:
                toks.add(t)
    return frozenset(toks)


STOPWORDS = {"a", "an", "the", "and", "or", "of", "with", "in", "on", "at", "to", "for", "from", "by", "is", "it"}


def keyword_words(keywords, author_tokens):
    out, seen = [], set()
    for k in keywords:
        for w in words_of(k.replace("_", " "), author_tokens):
            if w not in GENERIC_KEYWORDS and w not in STOPWORDS and singular(w) not in seen:
                out.append(w)
                seen.add(singular(w))
    return out


def tidy(words):
    """Drop stopwords at either end and words repeated in another number ("arrow arrows")."""
    out, seen = [], set()
    for w in words:
        if w in STOPWORDS or singular(w) not in seen:
            out.append(w)
            seen.add(singular(w))
    while out and out[0] in STOPWORDS:
        out.pop(0)
    while out and out[-1] in STOPWORDS:
        out.pop()
    return out


def clean_name(stem, creator, title, folder, author_tokens, keywords=()):
    """(name, title words, keyword words) of a drawing; name is '' when nothing usable is left.

    The name comes from the file name; the SVG title replaces it when the title says more (it
    contains every word of the name) or when the file name gave nothing; specific keywords are the
    last resort.
    """
    places = folder.startswith(PLACE_FOLDERS)
    s = slug(stem)
    s = re.sub(r"(_[0-9]+[a-z]?|_[a-z])+$", "", s)   # _01, _02b numbering, _r
    s = re.sub(r"(?<=[a-z])[0-9]+$", "", s)           # aircraft2, tigre01
    s = strip_author(s, slug(creator))
    s = re.sub(r"(_[0-9]+[a-z]?)+$", "", s)
    name = words_of(s, author_tokens, places)
    title_words = []
    if title and not JUNK_TITLE.search(title) and slug(title) != slug(creator):
        title_words = words_of(title, author_tokens, places)
    kw = keyword_words(keywords, author_tokens)
    if title_words and len(title_words) <= 7 and (not name or set(name) <= set(title_words)):
        name = title_words
    if len(name) == 1 and len(title_words) == 1 and title_words != name:
        name = name + title_words                      # "white" + "card"
    if not name or set(name) <= STOPWORDS:
        name = kw[:2]
    name = tidy(name)
    return " ".join(name), " ".join(title_words), kw
