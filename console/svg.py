"""Charts as server-rendered SVG: no script, no inline style, no network.

Every function returns markup marked safe, with all text escaped; sizes are
SVG attributes (the Content-Security-Policy forbids inline styles) and colours
come from classes in console.css.
"""

from django.templatetags.static import static
from django.utils.html import escape
from django.utils.safestring import mark_safe

from console.templatetags.console_tags import num


def _f(x):
    return f"{x:.2f}".rstrip("0").rstrip(".")


def ratio_bar(ratio, css="", title=""):
    """A small horizontal bar for a table cell: `ratio` of the track filled (1.0 = the threshold)."""
    ratio = max(0.0, float(ratio or 0))
    width = min(ratio, 1.0) * 100
    state = "over" if ratio >= 1 else ("near" if ratio >= 0.8 else "under")
    tip = f"<title>{escape(title)}</title>" if title else ""
    return mark_safe(  # noqa: S308 - every interpolated value is a number or escaped
        f'<svg class="bar {escape(css)}" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(title or f"{ratio:.0%}")}">{tip}'
        f'<rect class="track" x="0" y="0" width="100" height="10"/>'
        f'<rect class="fill {state}" x="0" y="0" width="{_f(width)}" height="10"/></svg>'
    )


def column_chart(points, unit="", width=1100, height=230, empty="No data in this period.", reference=None, label=""):
    """Vertical bars, one per (label, value) point, with a y axis of three ticks; `reference`, when given, a
    horizontal line at that value (a run's planned compute against its cumulative attested compute)."""
    if not points:
        return mark_safe(f'<p class="muted">{escape(empty)}</p>')  # noqa: S308
    left, right, top, bottom = 64, 10, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max([v for _, v in points] + ([reference] if reference else [])) or 1.0
    step = plot_w / len(points)
    bar_w = max(1.0, step * 0.7)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(unit)} per day, {len(points)} days">'
    ]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        parts.append(f'<line class="grid" x1="{left}" y1="{_f(y)}" x2="{width - right}" y2="{_f(y)}"/>')
        tick = escape(num(top_value * frac))
        parts.append(f'<text class="tick" x="{left - 6}" y="{_f(y + 4)}" text-anchor="end">{tick}</text>')
    for i, (label, value) in enumerate(points):
        h = plot_h * (value / top_value) if top_value else 0
        x = left + i * step + (step - bar_w) / 2
        parts.append(
            f'<rect class="col" x="{_f(x)}" y="{_f(top + plot_h - h)}" width="{_f(bar_w)}" height="{_f(h)}">'
            f"<title>{escape(str(label))}: {escape(num(value))} {escape(unit)}</title></rect>"
        )
    if reference:
        y = top + plot_h * (1 - reference / top_value)
        parts.append(
            f'<line class="reference" x1="{left}" y1="{_f(y)}" x2="{width - right}" y2="{_f(y)}">'
            f"<title>{escape(label)}: {escape(num(reference))} {escape(unit)}</title></line>"
        )
    shown = {0, len(points) - 1, len(points) // 2}
    for i in sorted(shown):
        x = left + i * step + step / 2
        parts.append(
            f'<text class="tick" x="{_f(x)}" y="{height - 12}" text-anchor="middle">{escape(str(points[i][0]))}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308


# --- the map -------------------------------------------------------------------

MAP_W, MAP_H = 720, 360  # two units per degree: equirectangular
# Land at 0.5 degree, one SVG unit per cell, served from static files (cached by the browser):
# Natural Earth I shaded relief (public domain), as downsampled in the Cartopy package,
# classified into land and water once and vendored; nothing is fetched at run time.
LAND = "console/world-land.svg"


def project(lat, lon):
    return (lon + 180.0) * MAP_W / 360.0, (90.0 - lat) * MAP_H / 180.0


def _fit_box(points, margin=6.0):
    """A viewBox (x, y, w, h) around the points, keeping the map's 2:1 aspect."""
    xs = [project(p["lat"], p["lon"])[0] for p in points]
    ys = [project(p["lat"], p["lon"])[1] for p in points]
    x0, x1 = min(xs) - margin * 4, max(xs) + margin * 4
    y0, y1 = min(ys) - margin * 4, max(ys) + margin * 4
    w, h = max(x1 - x0, 40.0), max(y1 - y0, 20.0)
    if w < 2 * h:
        x0 -= (2 * h - w) / 2
        w = 2 * h
    else:
        y0 -= (w / 2 - h) / 2
        h = w / 2
    return x0, y0, w, h


def world_map(points, fit=False):
    """Facilities as circles on a graticule. points: dicts lat, lon, code, name, state, href."""
    box = _fit_box(points) if fit and points else (0.0, 0.0, float(MAP_W), float(MAP_H))
    scale = box[2] / MAP_W  # keep circles the same size on screen when zoomed
    parts = [
        f'<svg class="map" viewBox="{_f(box[0])} {_f(box[1])} {_f(box[2])} {_f(box[3])}" role="img" '
        f'aria-label="Map of {len(points)} facilities">',
        f'<rect class="sea" x="0" y="0" width="{MAP_W}" height="{MAP_H}"/>',
        f'<image href="{escape(static(LAND))}" x="0" y="0" width="{MAP_W}" height="{MAP_H}" '
        'preserveAspectRatio="none"/>',
    ]
    for lon in range(-180, 181, 30):
        x, _ = project(0, lon)
        parts.append(f'<line class="graticule" x1="{_f(x)}" y1="0" x2="{_f(x)}" y2="{MAP_H}"/>')
    for lat in range(-90, 91, 30):
        _, y = project(lat, 0)
        css = "graticule equator" if lat == 0 else "graticule"
        parts.append(f'<line class="{css}" x1="0" y1="{_f(y)}" x2="{MAP_W}" y2="{_f(y)}"/>')
    for lon in range(-150, 181, 60):
        x, _ = project(0, lon)
        parts.append(
            f'<text class="gridlabel" x="{_f(x + 2)}" y="{MAP_H - 4}" font-size="{_f(9 * scale)}">{lon}°</text>'
        )
    for lat in (-60, -30, 30, 60):
        _, y = project(lat, -180)
        parts.append(f'<text class="gridlabel" x="2" y="{_f(y - 2)}" font-size="{_f(9 * scale)}">{lat}°</text>')
    r = 5 * scale
    for p in sorted(points, key=lambda p: {"none": 0, "other": 1, "high": 2}.get(p["state"], 0)):
        x, y = project(p["lat"], p["lon"])
        label = f"{p['code']} — {p['name']} ({STATE_TEXT.get(p['state'], p['state'])})"
        parts.append(
            f'<a href="{escape(p["href"])}" class="site"><title>{escape(label)}</title>'
            f'<circle class="site {escape(p["state"])}" cx="{_f(x)}" cy="{_f(y)}" r="{_f(r)}" '
            f'stroke-width="{_f(1.2 * scale)}"/>'
            f'<text class="sitelabel" x="{_f(x + r + 2 * scale)}" y="{_f(y + 3 * scale)}" '
            f'font-size="{_f(10 * scale)}">{escape(p["code"])}</text></a>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308


STATE_TEXT = {
    "high": "open high or critical alert",
    "other": "open alert",
    "none": "no open alert",
}
