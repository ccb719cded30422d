#!/usr/bin/env python3
"""Rebuild the course images and data/manifest.csv from Debian's openclipart-png.

    apt-get install openclipart-png
    python data/build_course_images.py [--source DIR] [--out DIR]

Every choice is an explicit list below (origin path in the package -> file, caption, note), so
the selection is readable and the output is byte-for-byte the same on every run with the pinned
Pillow (its bundled zlib/libjpeg write the bytes). Hazards in the package that this survives:
PNGs over Pillow's decompression-bomb limit (skipped with a message), pixel-identical copies
under different names (detected by a hash of the decoded pixels), transparency (composited on
white) and palette/greyscale/LA/CMYK modes (converted to RGB).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops
from tqdm import tqdm

DEFAULT_SOURCE = Path("/usr/share/openclipart/png")
DEFAULT_OUT = Path(__file__).resolve().parent
LICENCE = "Public Domain (openclipart, CC PD dedication)"
MANIFEST_COLUMNS = ["file", "sha256", "bytes", "licence", "origin", "category", "caption", "note", "quiz"]

MAX_SIDE = 256                        # longest side of every committed image
RESAMPLE = Image.Resampling.LANCZOS   # fixed filter: same pixels on every run
MARGIN = 1 / 25                       # white border kept around the trimmed drawing, per side
INK_THRESHOLD = 8                     # a pixel this far from white counts as part of the drawing
PNG_OPTIONS = {"format": "PNG", "optimize": True}
JPEG_OPTIONS = {"format": "JPEG", "quality": 90, "subsampling": "4:2:0", "optimize": True,
                "progressive": False}


@dataclass(frozen=True)
class Pick:
    origin: str          # path inside the package, relative to the PNG root
    caption: str         # short English caption
    note: str = ""       # for the dogs: what sets this one apart


# ---------------------------------------------------------------------------------------------
# The choices. Origins are relative to /usr/share/openclipart/png.

CAT = Pick("animals/mammals/housecats/gatto_cat_architetto_fra_03.png",
           "a grey and white cat with yellow eyes")

# topk-image/dog_0.png ... dog_8.png, in this order (each pose checked by looking). Three run, for
# quiz 2 (the lecture's "달리는 강아지"); one lies down, for the lecture's "A dog is sleeping".
DOGS = [
    Pick("animals/mammals/dog_01_drawn_with_strai_01.png", "a yellow dog sitting",
         "sitting upright; plain yellow dog"),
    Pick("animals/mammals/dog_05_drawn_with_strai_01.png", "a brown dog lying down",
         "the only dog lying down (the 'A dog is sleeping' answer)"),
    Pick("animals/mammals/dog_06_drawn_with_strai_01.png", "a brown dog walking",
         "walking, side view, tail up"),
    Pick("animals/mammals/dog_03_drawn_with_strai_01.png", "a grey dog running",
         "running towards the viewer; grey and white"),
    Pick("animals/mammals/dog_on_leash_gerald_g._01.png", "a beagle running on a red leash",
         "running: leaping forward on a leash"),
    Pick("animals/mammals/dog_01_drawn_with_strai_02.png", "a dog in a blue wizard costume and hat",
         "dressed up: the sitting dog in a starry blue wizard cape and hat"),
    Pick("animals/mammals/dogs/black_lab_ganson.png", "a black labrador standing on grass",
         "standing still on a patch of grass"),
    Pick("animals/mammals/dogs/dog_head_nicu_buculei_01.png", "a dog's head drawn in black outline",
         "head only; black-and-white line drawing"),
    Pick("animals/mammals/dog_04_drawn_with_strai_01.png", "a brown dachshund running",
         "running: side view, mid-stride"),
]
QUIZ2_DOGS = (3, 4, 8)   # quiz 2 target set: the three running dogs

# gallery/<category>_<nn>.png: 20 categories x 10 drawings, each picked by eye from contact
# sheets of the matching folders (ambiguous, tiny, mostly-text, near-blank and recoloured or
# resized variants of another pick were left out). No dogs or cats here.
GALLERY: dict[str, list[Pick]] = {
    "airplane": [
        Pick("shapes/airplane_nicu_buculei_01.png", "a small jet plane icon"),
        Pick("signs_and_symbols/map_symbols/aiga_air_transportation_.png", "a black airplane symbol"),
        Pick("transportation/plane_in_the_sky_mo_01.png", "an airliner flying past a blue cloud"),
        Pick("transportation/vehicles/aircraft_jarno_vasamaa1.png", "a twin-propeller plane"),
        Pick("transportation/vehicles/aircraft_jarno_vasamaa2.png", "a passenger jet seen from the side"),
        Pick("transportation/vehicles/aircraft_jarno_vasamaa3.png", "a small single-engine plane"),
        Pick("transportation/vehicles/aircraft_jarno_vasamaa4.png", "a white business jet"),
        Pick("transportation/vehicles/aircraft_jarno_vasamaa_.png", "a white airliner"),
        Pick("transportation/vehicles/military_airplane_mo_01.png", "a black fighter jet silhouette"),
        Pick("transportation/vehicles/plane_silhouet_mo_01.png", "an airliner silhouette seen from below"),
    ],
    "ball": [
        Pick("recreation/games/8_ball_jarno_vasamaa.png", "a black billiard 8-ball"),
        Pick("recreation/sports/baseball_anthony_liekens_01.png", "a baseball"),
        Pick("recreation/sports/blowling_ball_01.png", "a rolling black bowling ball"),
        Pick("recreation/sports/football_ball_brice_boye_01.png", "a black and white soccer ball"),
        Pick("recreation/sports/soccer_ballon_tanguy_jac_.png", "a shiny soccer ball"),
        Pick("recreation/sports/volley-ball_andrea_bianc_01.png", "a cream-coloured volleyball"),
        Pick("recreation/sports/volley_ball_angelo_gelmi_01.png", "a red, white and green volleyball"),
        Pick("recreation/toys/ball.png", "a pink ball with a green band and yellow stars"),
        Pick("recreation/toys/beach_ball_01.png", "a colourful beach ball"),
        Pick("recreation/toys/beachball_v0.1.png", "a shiny striped beach ball"),
    ],
    "bird": [
        Pick("animals/birds/aquila_frontale_architet_01.png", "an eagle flying with spread wings"),
        Pick("animals/birds/bird_of_peace_mauro_oliv_01.png", "a yellow bird sitting on a twig"),
        Pick("animals/birds/cigno_di_spalle_architet_01.png", "a white swan"),
        Pick("animals/birds/flamand_jean-victor_bali_01.png", "a pink flamingo"),
        Pick("animals/birds/gallo_di_profilo_archite_01.png", "a rooster with red tail feathers"),
        Pick("animals/birds/gufo_civetta_architetto__01.png", "an owl"),
        Pick("animals/birds/gull_marcelo_staudt_01.png", "a seagull standing"),
        Pick("animals/birds/jonathon_s_duck_01.png", "a grey and white goose"),
        Pick("animals/birds/puffin-md.png", "a puffin"),
        Pick("animals/birds/tacchino_architetto_fran_01.png", "a turkey with a fanned tail"),
    ],
    "book": [
        Pick("education/books/book_01.png", "a closed blue book"),
        Pick("education/books/books-aj.svg_aj_ashton_01.png", "a green book and a blue book"),
        Pick("education/books/closed_bible_01_01.png", "a black bible with a cross"),
        Pick("education/books/closed_book_01.png", "a closed teal book"),
        Pick("education/books/diary_costea_bogdan_01.png", "a brown diary"),
        Pick("education/books/open_bible_01_01.png", "an open book in black and white"),
        Pick("education/books/open_book_nae_02.png", "an open book drawn in blue outline"),
        Pick("education/books/paperback_book_black_gal_.png", "a black paperback book"),
        Pick("education/books/stack_of_books_01.png", "a stack of books"),
        Pick("education/books/stara_ksiega_-_old_book_01.png", "an old brown leather book"),
    ],
    "car": [
        Pick("transportation/blazer_01.png", "an olive green SUV"),
        Pick("transportation/car_jamin_ellis_.png", "a blue car"),
        Pick("transportation/dodge_neon_green_ganson.png", "a green car seen from the front"),
        Pick("transportation/formula_one_car_gerald_g_01.png", "a red formula one racing car"),
        Pick("transportation/road_runner_ganson.png", "a brown muscle car"),
        Pick("transportation/skoda_car_alejandro_teja_.png", "a red hatchback car"),
        Pick("transportation/sportcar_sergio_luiz_ara_01.png", "a red sports car"),
        Pick("transportation/toyota_land_cruiser_ganson.png", "a green cartoon jeep"),
        Pick("transportation/vehicles/_chevrolet_celebirt_.png", "a black and white sedan"),
        Pick("transportation/vehicles/car.png", "a small red cartoon car"),
    ],
    "chess piece": [
        Pick("recreation/games/chess/black_and_white_bishop_r.png", "a white and a black chess bishop"),
        Pick("recreation/games/chess/black_and_white_kings_d_r.png", "a white and a black chess king"),
        Pick("recreation/games/chess/black_and_white_pawns_d_r.png", "a white and a black chess pawn"),
        Pick("recreation/games/chess/chess_game_01.png", "chess pieces set up on a chessboard"),
        Pick("recreation/games/chess/chesspieces-bishop.png", "a black chess bishop silhouette"),
        Pick("recreation/games/chess/chesspieces-king.png", "a black chess king silhouette"),
        Pick("recreation/games/chess/chesspieces-knight.png", "a black chess knight silhouette"),
        Pick("recreation/games/chess/chesspieces-pawn.png", "a black chess pawn silhouette"),
        Pick("recreation/games/chess/chesspieces-queen.png", "a black chess queen silhouette"),
        Pick("recreation/games/chess/chesspieces-rook.png", "a black chess rook silhouette"),
    ],
    "computer": [
        Pick("computer/etiquette_laptop_01.png", "a silver laptop"),
        Pick("computer/green_computer_merzok_01.png", "an old computer with a keyboard"),
        Pick("computer/hardware/computer-aj_aj_ashton_01.png", "a desktop computer with a tower and keyboard"),
        Pick("computer/hardware/computer.png", "a white computer with a mouse"),
        Pick("computer/hardware/computer1.png", "a grey desktop computer with a keyboard"),
        Pick("computer/hardware/laptop.png", "a black laptop"),
        Pick("computer/hardware/laptop_01.png", "a white laptop"),
        Pick("computer/hardware/monitor.png", "a computer monitor"),
        Pick("computer/hardware/schermo_macintosh_archit_01.png", "an orange iMac computer"),
        Pick("computer/hardware/workstation_01.png", "a desktop workstation with a tower"),
    ],
    "cup": [
        Pick("food/beverages/coffee.png", "a cup of coffee on a saucer"),
        Pick("food/beverages/coffee_ganson.png", "a mug of coffee with a blue band"),
        Pick("food/beverages/cuppa_schwoo_01.png", "a red mug"),
        Pick("food/beverages/kubek_herbaty_-_mug_of__01.png", "a glass mug of tea"),
        Pick("food/beverages/mug.png", "an olive green mug"),
        Pick("food/beverages/mug_toh_yen_cheng_01.png", "a white mug with a blue face"),
        Pick("food/beverages/tazza_di_caffe_architett_01.png", "a steaming blue coffee cup"),
        Pick("food/beverages/teacup_ganson.png", "a teacup on a saucer"),
        Pick("office/cup_rollandin_francesco_.png", "a yellow cup"),
        Pick("signs_and_symbols/map_symbols/coffee_jean_victor_balin_.png", "a black steaming cup icon"),
    ],
    "dinosaur": [
        Pick("animals/dinosaurs/dino_architetto_francesc_03.png", "a beige long-necked dinosaur"),
        Pick("animals/dinosaurs/dino_architetto_francesc_04.png", "a green long-necked dinosaur"),
        Pick("animals/dinosaurs/dino_architetto_francesc_06.png", "an orange stegosaurus"),
        Pick("animals/dinosaurs/dino_architetto_francesc_09.png", "a green running dinosaur"),
        Pick("animals/dinosaurs/dino_architetto_francesc_10.png", "a green flying pterodactyl"),
        Pick("animals/dinosaurs/dinosauri_architetto_fra_01.png", "a grey stegosaurus"),
        Pick("animals/dinosaurs/dinosauri_architetto_fra_02.png", "a grey triceratops"),
        Pick("animals/dinosaurs/dinosauro_architetto_fra_01.png", "a green cartoon stegosaurus"),
        Pick("animals/dinosaurs/dinosauro_architetto_fra_02.png", "a green cartoon tyrannosaurus roaring"),
        Pick("animals/dinosaurs/dinosauro_architetto_fra_03.png", "a blue swimming plesiosaur"),
    ],
    "fish": [
        Pick("animals/fish/altum_angelfish_01.png", "a striped angelfish"),
        Pick("animals/fish/arctic_greyling_ganson.png", "a black and white fish leaping"),
        Pick("animals/fish/bofish_massimo_aiello_r.png", "a round pink cartoon fish"),
        Pick("animals/fish/brown_fish_01.png", "a brown fish with an open mouth"),
        Pick("animals/fish/clown_loach_01.png", "an orange and black striped fish"),
        Pick("animals/fish/giraffe_cichlid_01.png", "a green spotted fish"),
        Pick("animals/fish/pescetto_arancione_archi_01.png", "an orange cartoon fish"),
        Pick("animals/fish/yellow_gourami_01.png", "a yellow fish"),
        Pick("computer/icons/lemon-theme/apps/bluefish.png", "a blue cartoon fish with sharp teeth"),
        Pick("unsorted/pescetto.png", "a goldfish with flowing fins"),
    ],
    "flag": [
        Pick("signs_and_symbols/flags/america/brazil.png", "the flag of Brazil"),
        Pick("signs_and_symbols/flags/america/canada.png", "the flag of Canada"),
        Pick("signs_and_symbols/flags/america/united_states.png", "the flag of the United States"),
        Pick("signs_and_symbols/flags/asia/china.png", "the flag of China"),
        Pick("signs_and_symbols/flags/asia/india.png", "the flag of India"),
        Pick("signs_and_symbols/flags/asia/turkey.png", "the flag of Turkey"),
        Pick("signs_and_symbols/flags/europe/greece.png", "the flag of Greece"),
        Pick("signs_and_symbols/flags/europe/sweden.png", "the flag of Sweden"),
        Pick("signs_and_symbols/flags/europe/united_kingdom/united_kingdom.png", "the flag of the United Kingdom"),
        Pick("signs_and_symbols/flags/historic/pirates/pirate_jack_rackham.png", "a black pirate flag with skull and swords"),
    ],
    "flower": [
        Pick("plants/flowers/daffodil_susan_park_01.png", "a yellow daffodil"),
        Pick("plants/flowers/daisy_jonathan_dietrich_01.png", "a white daisy"),
        Pick("plants/flowers/flower1_juliane_krug_01.png", "a yellow flower with many petals"),
        Pick("plants/flowers/flower_01.png", "a blue flower with a yellow centre"),
        Pick("plants/flowers/flower_peterm_01.png", "an orange flower on a green stem"),
        Pick("plants/flowers/pink-rose_tess_brady_01.png", "a pink rose"),
        Pick("plants/flowers/red_flower_01.png", "a red flower on a stem"),
        Pick("plants/flowers/sakura_01.png", "a pink cherry blossom"),
        Pick("plants/flowers/sun_flower_ganson.png", "a sunflower"),
        Pick("plants/flowers/tulips_ganson.png", "pink tulips"),
    ],
    "fruit": [
        Pick("food/fruit/an_apple_01.png", "a red apple with a leaf"),
        Pick("food/fruit/banana.png", "a yellow banana"),
        Pick("food/fruit/cherries.png", "two red cherries"),
        Pick("food/fruit/grape_01.png", "a bunch of purple grapes"),
        Pick("food/fruit/green_pear_01.png", "a green pear"),
        Pick("food/fruit/lemon.png", "a yellow lemon"),
        Pick("food/fruit/orange.png", "an orange"),
        Pick("food/fruit/pineapple.png", "a pineapple"),
        Pick("food/fruit/strawberry.png", "a strawberry"),
        Pick("food/fruit/watermelon_james_kilfige_01.png", "a whole watermelon"),
    ],
    "hat": [
        Pick("people/clothing/adventurer_hat_nicu_bucu_01.png", "a brown adventurer hat"),
        Pick("people/clothing/hats/baseball_cap_ganson.png", "a baseball cap"),
        Pick("people/clothing/hats/blue_fedora.png", "a blue fedora"),
        Pick("people/clothing/hats/hat_-_clothing_nicu_bucu_01.png", "a cowboy hat"),
        Pick("people/clothing/hats/hat_-_clothing_nicu_bucu_03.png", "a purple top hat"),
        Pick("people/clothing/hats/hat_-_clothing_nicu_bucu_04.png", "a red fez"),
        Pick("people/clothing/hats/hat_01.png", "a striped party hat"),
        Pick("people/clothing/hats/propeller.png", "a propeller beanie"),
        Pick("people/clothing/hats/sombrero_dave_pena_01.png", "a sombrero"),
        Pick("people/clothing/winter_hat_nathan_eady_01.png", "a red knitted winter hat"),
    ],
    "house": [
        Pick("buildings/homes/home0.png", "a chalet with red shutters and snow on the roof"),
        Pick("buildings/homes/home14.png", "a small yellow house"),
        Pick("buildings/homes/home3.png", "a half-timbered cottage"),
        Pick("buildings/homes/home6.png", "a white cottage with a yellow roof"),
        Pick("buildings/homes/house.png", "a small brown house with a black roof"),
        Pick("buildings/homes/house_christoph_brill_01.png", "a yellow two-storey house"),
        Pick("buildings/homes/house_juliane_krug_01.png", "a blue house with an orange roof"),
        Pick("buildings/homes/my_house_01.png", "a white house with a red roof"),
        Pick("buildings/homes/small_house_01.png", "a red house with a black roof"),
        Pick("computer/residential_house_zazou.png", "a cartoon house with a yellow roof"),
    ],
    "insect": [
        Pick("animals/bugs/abeille_tanguy_jacq_01.png", "a flying bee"),
        Pick("animals/bugs/ant.png", "an ant"),
        Pick("animals/bugs/butterfly_jonathan_dietr_01.png", "a yellow and blue butterfly"),
        Pick("animals/bugs/cavalletta_architetto_fr_01.png", "a green grasshopper"),
        Pick("animals/bugs/damselfly_leigh_purdie_r.png", "a dragonfly"),
        Pick("animals/bugs/farfalla_butterfly_fra1.png", "an orange and brown butterfly"),
        Pick("animals/bugs/fly_01.png", "a housefly"),
        Pick("animals/bugs/flying_wasp_gerald_g._01.png", "a flying wasp"),
        Pick("animals/bugs/ladybug_01.png", "a red ladybug with black spots"),
        Pick("animals/bugs/mante_religieuse_01.png", "a praying mantis"),
    ],
    "musical instrument": [
        Pick("recreation/music/cello_ganson.png", "a cello"),
        Pick("recreation/music/drums_jarno_vasamaa_.png", "a blue drum kit"),
        Pick("recreation/music/electric_guitar_andrea__01r.png", "an electric guitar"),
        Pick("recreation/music/french_horn_ganson.png", "a French horn"),
        Pick("recreation/music/guitar_jarno_vasamaa1.png", "an acoustic guitar"),
        Pick("recreation/music/harp1_ganson.png", "a harp"),
        Pick("recreation/music/maracas_ganson.png", "a pair of maracas"),
        Pick("recreation/music/saxophone_jarno_vasamaa_.png", "a saxophone"),
        Pick("recreation/music/violin_colour_ganson.png", "a violin"),
        Pick("recreation/music/xylophone_ganson.png", "a xylophone"),
    ],
    "telephone": [
        Pick("computer/classic_phone_zazou.png", "a red rotary telephone"),
        Pick("computer/phone_sergio_luiz_araujo_01.png", "a white desk telephone"),
        Pick("office/handphone_toh_yen_cheng_01.png", "a blue mobile phone"),
        Pick("office/telephone/cellular_phone_shandy_br_.png", "a mobile phone drawn in outline"),
        Pick("office/telephone/ip_phone_michael_hart_r.png", "a black office telephone"),
        Pick("office/telephone/mobile.png", "a dark blue mobile phone"),
        Pick("office/telephone/mobile_phone_01.png", "a silver mobile phone"),
        Pick("office/telephone/phone.png", "a black and white desk telephone"),
        Pick("office/telephone/red_telephone_mimooh_01.png", "a red push-button telephone"),
        Pick("office/telephone/telefono_email_frolland_01.png", "a yellow ringing telephone"),
    ],
    "tool": [
        Pick("tools/axe_peterm_.png", "an axe"),
        Pick("tools/construction_hammer_jon__01.png", "a hammer"),
        Pick("tools/drill_peterm_.png", "a pink electric drill"),
        Pick("tools/leafrake_benji_park_01.png", "a leaf rake"),
        Pick("tools/roundpointshovel_benji_p_01.png", "a shovel"),
        Pick("tools/screwdriver_peterm_.png", "a screwdriver"),
        Pick("tools/tool.png", "a pair of pliers"),
        Pick("tools/trowel_benji_park_01.png", "a garden trowel"),
        Pick("tools/utensile_sega_architetto_01.png", "a hand saw"),
        Pick("tools/wooden_mallot_benji_park_.png", "a wooden mallet"),
    ],
    "tree": [
        Pick("food/fruit/tree_whit_fruits_01.png", "a cartoon tree with oranges"),
        Pick("plants/fall_coloured_tree_geral_01.png", "a tree with autumn leaves"),
        Pick("plants/flowers/cartoon_tree_01.png", "a round green cartoon tree"),
        Pick("plants/palmtree_b_r_kessels_.png", "a black palm tree silhouette"),
        Pick("plants/tree_branches_and_roots_01.png", "a tree with its roots"),
        Pick("plants/trees/evergreen/christmas_tree_01.png", "a decorated Christmas tree with a star"),
        Pick("plants/trees/evergreen/plain_tree_01.png", "a tall narrow green tree"),
        Pick("plants/trees/evergreen/simple_evergreen_with_highlights_01.png", "a green fir tree"),
        Pick("plants/trees/evergreen/tree.png", "a pine tree"),
        Pick("plants/arbre_modern_jean-victor_01.png", "a stylised tree with a green crown"),
    ],
}

# Quiz 7 ("guess the query") targets: gallery file -> "quiz7". Five pictures of different categories
# that the course's own CLIP finds with a plain description (`make check-quizzes` confirms it).
QUIZ7: dict[str, str] = {
    "gallery/flag_08.png": "quiz7",
    "gallery/flower_08.png": "quiz7",
    "gallery/fruit_08.png": "quiz7",
    "gallery/insect_00.png": "quiz7",
    "gallery/tool_07.png": "quiz7",
}


# ---------------------------------------------------------------------------------------------
# Reading the package safely.

class SkippedImage(Exception):
    """A package file that cannot be used (decompression bomb, corrupt or unreadable)."""


def open_image(path: Path) -> Image.Image:
    """Open and fully decode one PNG, refusing decompression bombs without raising the limit.

    Pillow only warns between 1x and 2x its pixel limit; turning that warning into an error
    here (and only here) skips those files too, so no huge image is ever decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return im.copy()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise SkippedImage(f"{path}: skipped, over Pillow's decompression-bomb limit ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise SkippedImage(f"{path}: skipped, not a readable image ({exc})") from exc


def pixel_hash(im: Image.Image) -> str:
    """Hash of the decoded pixels (as RGBA) and size: equal for copies saved under other names."""
    rgba = im.convert("RGBA")
    digest = hashlib.sha256(f"{rgba.width}x{rgba.height}:".encode())
    digest.update(rgba.tobytes())
    return digest.hexdigest()


def scan(source: Path, folders: list[str]) -> tuple[dict[str, str], list[str]]:
    """Hash every PNG in the given package folders (not their subfolders).

    Returns (origin -> pixel hash, messages for skipped files). Only the folders that hold a
    pick are scanned: enough to see every hazard next to the picks, and fast.
    """
    files = sorted(p for folder in folders for p in (source / folder).glob("*.png"))
    hashes: dict[str, str] = {}
    skipped: list[str] = []
    for path in tqdm(files, desc="scanning openclipart-png", unit="png", file=sys.stderr):
        origin = path.relative_to(source).as_posix()
        try:
            hashes[origin] = pixel_hash(open_image(path))
        except SkippedImage as exc:
            skipped.append(str(exc))
    return hashes, skipped


# ---------------------------------------------------------------------------------------------
# Normalising one drawing.

def to_rgb_on_white(im: Image.Image) -> Image.Image:
    """Any mode (P, L, LA, RGBA, CMYK, ...) -> RGB, with transparency composited on white."""
    if im.mode == "CMYK":
        im = im.convert("RGB")
    rgba = im.convert("RGBA")   # also applies a palette's or greyscale image's transparency key
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def ink_box(rgb: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the drawing: pixels noticeably different from white in any channel."""
    diff = ImageChops.difference(rgb, Image.new("RGB", rgb.size, (255, 255, 255)))
    r, g, b = diff.split()
    strongest = ImageChops.lighter(ImageChops.lighter(r, g), b)
    return strongest.point(lambda v: 255 if v > INK_THRESHOLD else 0).getbbox()


def normalise(im: Image.Image) -> Image.Image:
    """RGB on white, trimmed to the drawing, centred on a white square, longest side <= 256.

    Many package PNGs are whole pages with a small drawing; trimming keeps the subject large,
    and the square canvas keeps CLIP's centre crop from cutting off long drawings.
    """
    rgb = to_rgb_on_white(im)
    box = ink_box(rgb)
    if box is None:
        raise ValueError("the image is blank (white only)")
    rgb = rgb.crop(box)
    side = max(rgb.size) + 2 * round(max(rgb.size) * MARGIN)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))   # fresh image: carries no metadata
    canvas.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    if side > MAX_SIDE:
        canvas = canvas.resize((MAX_SIDE, MAX_SIDE), RESAMPLE)
    return canvas


# ---------------------------------------------------------------------------------------------
# Building.

@dataclass(frozen=True)
class Target:
    file: str            # relative to the output folder, forward slashes
    pick: Pick
    category: str
    quiz: str = ""


def targets() -> list[Target]:
    """Every output file with its pick, category and quiz mark."""
    out = [Target("cat.jpg", CAT, "cat")]
    out += [Target(f"topk-image/dog_{i}.png", pick, "dog", "quiz2" if i in QUIZ2_DOGS else "")
            for i, pick in enumerate(DOGS)]
    for category, picks in GALLERY.items():
        stem = category.replace(" ", "_")
        for n, pick in enumerate(picks):
            file = f"gallery/{stem}_{n:02d}.png"
            out.append(Target(file, pick, category, QUIZ7.get(file, "")))
    return out


def drawing_stem(origin: str) -> str:
    """File name without its numbered-variant suffix: dog_05_..._01 and _02 share one stem."""
    return re.sub(r"([_-]?\d+r?)?\.png$", "", origin.rsplit("/", 1)[-1])


def check_choices(items: list[Target], hashes: dict[str, str]) -> None:
    """Refuse a selection with copies: same pixels, or a variant of the cat or a dog."""
    seen: dict[str, str] = {}
    for t in items:
        h = hashes[t.pick.origin]
        if h in seen:
            raise SystemExit(f"{t.pick.origin} is a pixel-identical copy of {seen[h]}: "
                             f"choose another drawing for {t.file}")
        seen[h] = t.pick.origin
    unknown = set(QUIZ7) - {t.file for t in items}
    if unknown:
        raise SystemExit(f"QUIZ7 names files that are not in the gallery: {sorted(unknown)}")
    pets = {drawing_stem(t.pick.origin) for t in items if t.category in ("cat", "dog")}
    for t in items:
        if t.file.startswith("gallery/") and drawing_stem(t.pick.origin) in pets:
            raise SystemExit(f"{t.pick.origin} ({t.file}) is a variant of the cat or a dog drawing")


def save(im: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **(JPEG_OPTIONS if path.suffix == ".jpg" else PNG_OPTIONS))


def remove_stale(out: Path, items: list[Target]) -> None:
    """Delete images this script owns but no longer lists, so the folder matches the manifest."""
    wanted = {t.file for t in items}
    for folder in ("gallery", "topk-image"):
        for path in sorted((out / folder).glob("*.png")):
            if path.relative_to(out).as_posix() not in wanted:
                print(f"removing {path} (not in the lists)", file=sys.stderr)
                path.unlink()


def write_manifest(out: Path, items: list[Target]) -> None:
    rows = []
    for t in sorted(items, key=lambda t: t.file):
        data = (out / t.file).read_bytes()
        rows.append({"file": t.file, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                     "licence": LICENCE, "origin": t.pick.origin, "category": t.category,
                     "caption": t.pick.caption, "note": t.pick.note, "quiz": t.quiz})
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def build(source: Path, out: Path) -> list[Target]:
    items = targets()
    folders = sorted({t.pick.origin.rsplit("/", 1)[0] for t in items})
    hashes, skipped = scan(source, folders)
    for message in skipped:
        print(message, file=sys.stderr)
    copies = len(hashes) - len(set(hashes.values()))
    print(f"scanned {len(hashes) + len(skipped)} PNGs in {len(folders)} folders: {len(skipped)} skipped, "
          f"{copies} pixel-identical copies of other files", file=sys.stderr)
    missing = [t.pick.origin for t in items if t.pick.origin not in hashes]
    if missing:
        raise SystemExit("cannot build, these chosen files are missing or were skipped:\n  " + "\n  ".join(missing))
    check_choices(items, hashes)
    for t in tqdm(items, desc="writing course images", unit="img", file=sys.stderr):
        try:
            image = normalise(open_image(source / t.pick.origin))
        except ValueError as exc:
            raise SystemExit(f"{t.pick.origin} cannot be used for {t.file}: {exc}") from exc
        save(image, out / t.file)
    remove_stale(out, items)
    write_manifest(out, items)
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help=f"openclipart-png PNG root (default {DEFAULT_SOURCE})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: data/)")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"{args.source} not found: install it with `apt-get install openclipart-png`")
    items = build(args.source, args.out)
    total = sum((args.out / t.file).stat().st_size for t in items)
    print(f"wrote {len(items)} images ({total / 1e6:.2f} MB) and {args.out / 'manifest.csv'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
