"""Draw the DentalOsteo app icon: a stylised molar over a mandible arc in a rounded square.

Writes dentalosteo.svg and dentalosteo_<N>.png for N in 16, 32, 64, 128, 256 (plus a
multi-size dentalosteo.ico). The PNGs are rendered with Pillow from the same geometry as
the SVG (4x supersampled), so no SVG renderer is needed. Run: python make_icons.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZES = (16, 32, 64, 128, 256)
BG_TOP, BG_BOTTOM = (14, 98, 116), (8, 58, 74)
ARC = (120, 214, 232)
TOOTH = (255, 255, 255)
TOOTH_EDGE = (8, 58, 74)

# Molar outline in a 256 x 256 box: cubic Bezier segments (start point, then 3 points each).
TOOTH_START = (72.0, 100.0)
TOOTH_CURVES = [
    ((72, 66), (100, 56), (114, 65)),
    ((122, 70), (134, 70), (142, 65)),
    ((156, 56), (184, 66), (184, 100)),
    ((184, 128), (176, 140), (172, 160)),
    ((168, 184), (164, 204), (154, 207)),
    ((145, 209), (142, 190), (139, 174)),
    ((135, 158), (121, 158), (117, 174)),
    ((114, 190), (111, 209), (102, 207)),
    ((92, 204), (88, 184), (84, 160)),
    ((80, 140), (72, 128), (72, 100)),
]
# Mandible: a quadratic arc under the tooth.
ARC_PTS = ((36.0, 146.0), (128.0, 262.0), (220.0, 146.0))
ARC_WIDTH = 13.0


def svg() -> str:
    d = f"M {TOOTH_START[0]:g} {TOOTH_START[1]:g} " + " ".join(
        "C " + ", ".join(f"{x:g} {y:g}" for x, y in seg) for seg in TOOTH_CURVES) + " Z"
    (ax, ay), (qx, qy), (bx, by) = ARC_PTS
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <title>DentalOsteo</title>
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="rgb{BG_TOP}"/>
      <stop offset="1" stop-color="rgb{BG_BOTTOM}"/>
    </linearGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="52" ry="52" fill="url(#bg)"/>
  <path d="M {ax:g} {ay:g} Q {qx:g} {qy:g} {bx:g} {by:g}" fill="none" stroke="rgb{ARC}"
        stroke-width="{ARC_WIDTH:g}" stroke-linecap="round"/>
  <path d="{d}" fill="rgb{TOOTH}" stroke="rgb{TOOTH_EDGE}" stroke-width="6" stroke-linejoin="round"/>
</svg>
"""


def _cubic(p0, p1, p2, p3, n=24):
    out = []
    for i in range(1, n + 1):
        t = i / n
        a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
        out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                    a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def _quad(p0, p1, p2, n=64):
    return [((1 - t) ** 2 * p0[0] + 2 * t * (1 - t) * p1[0] + t * t * p2[0],
             (1 - t) ** 2 * p0[1] + 2 * t * (1 - t) * p1[1] + t * t * p2[1])
            for t in (i / n for i in range(n + 1))]


def render(size: int) -> Image.Image:
    ss = 4
    big = 256 * ss
    k = ss
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    # vertical gradient clipped to a rounded square
    grad = Image.new("RGBA", (big, big))
    gd = ImageDraw.Draw(grad)
    for y in range(big):
        t = y / (big - 1)
        gd.line([(0, y), (big, y)], fill=tuple(int(BG_TOP[i] * (1 - t) + BG_BOTTOM[i] * t) for i in range(3)) + (255,))
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle([8 * k, 8 * k, 248 * k, 248 * k], radius=52 * k, fill=255)
    img.paste(grad, (0, 0), mask)
    d = ImageDraw.Draw(img)
    # small icons: thicker strokes so the shape survives downscaling
    boost = 1.6 if size <= 32 else 1.0
    arc = [(x * k, y * k) for x, y in _quad(*ARC_PTS)]
    w = int(ARC_WIDTH * k * boost)
    d.line(arc, fill=ARC + (255,), width=w, joint="curve")
    for end in (arc[0], arc[-1]):
        d.ellipse([end[0] - w / 2, end[1] - w / 2, end[0] + w / 2, end[1] + w / 2], fill=ARC + (255,))
    pts = [TOOTH_START]
    cur = TOOTH_START
    for seg in TOOTH_CURVES:
        pts += _cubic(cur, *seg)
        cur = seg[-1]
    poly = [(x * k, y * k) for x, y in pts]
    edge = int(6 * k * boost)
    d.line(poly + [poly[0]], fill=TOOTH_EDGE + (255,), width=edge, joint="curve")
    d.polygon(poly, fill=TOOTH + (255,))
    # restore the rounded-square clip (the arc's round caps must not spill over)
    alpha = img.getchannel("A")
    alpha = Image.composite(alpha, Image.new("L", (big, big), 0), mask)
    img.putalpha(alpha)
    return img.resize((size, size), Image.LANCZOS)


def main() -> None:
    (HERE / "dentalosteo.svg").write_text(svg(), encoding="utf-8")
    images = {s: render(s) for s in SIZES}
    for s, im in images.items():
        im.save(HERE / f"dentalosteo_{s}.png", optimize=True)
    images[256].save(HERE / "dentalosteo.ico", sizes=[(s, s) for s in SIZES])
    print("wrote", ", ".join(f"dentalosteo_{s}.png" for s in SIZES), "dentalosteo.svg, dentalosteo.ico")


if __name__ == "__main__":
    main()
