#!/usr/bin/python3
"""Plot convergence: relative error against time and/or iterations from nmf_mpi summary files.

Each SUMMARY.json is what `nmf_mpi -o PREFIX` writes as PREFIX_summary.json. Its `history` holds one entry per
evaluation, {iteration, relative_error, objective, seconds}, where seconds is the wall time of the iterations so
far on rank 0's clock (reading the input is not included). One line is drawn per file:
  --x seconds      relative error against seconds
  --x iterations   relative error against outer iterations
  --x both         the two side by side, sharing the y axis (the default)
The y axis is logarithmic unless --linear-y, and spans all the data unless --ylim narrows it. Lines are labelled
"algo, P ranks" from the summaries, with ", k = K" added when the files differ in k; --labels replaces the
labels (one per file, in the order of the files). When every file has its own (algo, ranks) pair, the colour
follows the algorithm and the line style the rank count, so the same algorithm at different P reads as one
family.

The figure is drawn with matplotlib's Agg backend (no display needed) and written to OUT (.png, .pdf, .svg, ...).

usage: scripts/plot_convergence.py [--x seconds|iterations|both] [--title T] [--log-y | --linear-y]
                                   [--ylim BOTTOM TOP] [--labels L [L ...]] -o OUT.png SUMMARY.json [...]
"""
import argparse
import json
import math
import sys
from pathlib import Path

try:
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: no display
    import matplotlib.pyplot as plt
    import matplotlib.ticker
except ImportError as error:  # e.g. run with a python3 that lacks matplotlib
    sys.exit(f"plot_convergence.py needs matplotlib ({error}); run it with /usr/bin/python3")

LINE_STYLES = ("-", "--", ":", "-.")
X_LABELS = {
    "seconds": "wall time of the iterations (s, rank 0)",
    "iterations": "outer iteration",
}


class PlainLogFormatter(matplotlib.ticker.LogFormatter):
    """LogFormatter's choice of which ticks to label, written as plain numbers: 0.4 rather than 4e-01."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.3g}"


class SummaryError(Exception):
    """A summary file that is missing, unreadable or not shaped like nmf_mpi's summary."""


def number(value, what, path):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SummaryError(f"{path}: {what} is {value!r}, not a finite number")
    return value


def load_summary(path):
    """The parts of one summary the plot needs: algo, ranks, k, n, m and the history as three lists."""
    path = Path(path)
    if not path.is_file():
        raise SummaryError(f"{path}: no such file")
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise SummaryError(f"{path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise SummaryError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(summary, dict):
        raise SummaryError(f"{path}: expected a JSON object (an nmf_mpi summary), found {type(summary).__name__}")
    missing = [key for key in ("history", "algo", "ranks") if key not in summary]
    if missing:
        raise SummaryError(f"{path}: not an nmf_mpi summary (no {', '.join(missing)})")
    history = summary["history"]
    if not isinstance(history, list) or not history:
        raise SummaryError(f"{path}: 'history' is empty or not a list")
    iterations, seconds, errors = [], [], []
    for i, entry in enumerate(history):
        if not isinstance(entry, dict) or any(key not in entry for key in ("iteration", "relative_error", "seconds")):
            raise SummaryError(f"{path}: history entry {i} lacks iteration, relative_error or seconds: {entry!r}")
        iterations.append(number(entry["iteration"], f"history[{i}].iteration", path))
        seconds.append(number(entry["seconds"], f"history[{i}].seconds", path))
        errors.append(number(entry["relative_error"], f"history[{i}].relative_error", path))
    return {
        "path": path,
        "algo": str(summary["algo"]),
        "ranks": summary["ranks"],
        "k": summary.get("k"),
        "n": summary.get("n"),
        "m": summary.get("m"),
        "iterations": iterations,
        "seconds": seconds,
        "errors": errors,
    }


def default_labels(runs):
    """ "algo, P ranks", plus ", k = K" when the files differ in k; a file name where two labels would clash."""
    show_k = len({run["k"] for run in runs}) > 1
    labels = []
    for run in runs:
        label = f"{run['algo']}, {run['ranks']} rank{'' if run['ranks'] == 1 else 's'}"
        if show_k:
            label += f", k = {run['k']}"
        labels.append(label)
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            labels[i] = f"{label} ({runs[i]['path'].name})"
    return labels


def line_styles(runs):
    """(colour, line style) per run: colour by algo and style by rank count when that tells every run apart,
    otherwise a colour of its own for each run."""
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    pairs = [(run["algo"], run["ranks"]) for run in runs]
    if len(set(pairs)) == len(pairs):
        algos = list(dict.fromkeys(run["algo"] for run in runs))
        ranks = list(dict.fromkeys(run["ranks"] for run in runs))
        return [(palette[algos.index(a) % len(palette)], LINE_STYLES[ranks.index(p) % len(LINE_STYLES)])
                for a, p in pairs]
    return [(palette[i % len(palette)], LINE_STYLES[(i // len(palette)) % len(LINE_STYLES)]) for i in range(len(runs))]


def default_title(runs):
    shapes = {(run["n"], run["m"]) for run in runs}
    ks = {run["k"] for run in runs}
    parts = []
    if len(shapes) == 1 and None not in next(iter(shapes)):
        n, m = next(iter(shapes))
        parts.append(f"X: {n} x {m}")
    if len(ks) == 1 and None not in ks:
        parts.append(f"k = {next(iter(ks))}")
    return "NMF convergence" + (f" ({', '.join(parts)})" if parts else "")


def plot(runs, labels, x_axes, title, log_y, y_limits, out):
    panels = ["seconds", "iterations"] if x_axes == "both" else [x_axes]
    figure, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.8), sharey=True, squeeze=False)
    axes = axes[0]
    styles = line_styles(runs)
    for axis, panel in zip(axes, panels):
        for run, label, (colour, style) in zip(runs, labels, styles):
            errors = run["errors"]
            if log_y:  # a zero error cannot be drawn on a log axis: leave that point out rather than fail
                points = [(x, e) for x, e in zip(run[panel], errors) if e > 0]
            else:
                points = list(zip(run[panel], errors))
            if points:
                xs, ys = zip(*points)
                axis.plot(xs, ys, color=colour, linestyle=style, linewidth=1.6, label=label)
        axis.set_xlabel(X_LABELS[panel])
        axis.set_xlim(left=0)
        if log_y:
            axis.set_yscale("log")
            # the relative errors of one problem often span less than a decade: label the minor ticks too (only
            # while the axis spans few decades), as plain numbers (0.4 rather than 4 x 10^-1)
            for setter in (axis.yaxis.set_major_formatter, axis.yaxis.set_minor_formatter):
                setter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        if y_limits:
            axis.set_ylim(*y_limits)
        axis.grid(True, which="major", alpha=0.5)
        axis.grid(True, which="minor", alpha=0.2)
        axis.set_title(f"against {'time' if panel == 'seconds' else 'iterations'}", fontsize="medium")
    axes[0].set_ylabel(r"relative error $\Vert X - AS\Vert_F \,/\, \Vert X\Vert_F$" + (" (log scale)" if log_y else ""))
    axes[-1].legend(loc="best", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("summaries", nargs="*", metavar="SUMMARY.json", help="nmf_mpi summary files, one line each")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png", help="image to write (format from suffix)")
    parser.add_argument("--x", choices=("seconds", "iterations", "both"), default="both", dest="x_axes",
                        help="x axis: wall time, iterations, or two panels side by side (default both)")
    parser.add_argument("--title", default=None, help="figure title (default: the matrix shape and k)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--log-y", dest="log_y", action="store_true", default=True, help="log-scale error (default)")
    scale.add_argument("--linear-y", dest="log_y", action="store_false", help="linear error axis")
    parser.add_argument("--ylim", nargs=2, type=float, metavar=("BOTTOM", "TOP"), default=None,
                        help="y range (default: all the data); points outside are clipped")
    parser.add_argument("--labels", nargs="+", metavar="L", default=None,
                        help="legend labels, one per file in order (put them after the files, or end them with --)")
    args = parser.parse_args()

    if not args.summaries:
        parser.error("no SUMMARY.json given (if --labels came right before the files, end the labels with --)")
    if args.ylim and not (args.ylim[0] < args.ylim[1] and (args.ylim[0] > 0 or not args.log_y)):
        parser.error(f"bad --ylim {args.ylim[0]:g} {args.ylim[1]:g}: need BOTTOM < TOP (and BOTTOM > 0 on a log axis)")
    if args.labels is not None and len(args.labels) != len(args.summaries):
        parser.error(f"--labels gives {len(args.labels)} labels for {len(args.summaries)} files")
    try:
        runs = [load_summary(path) for path in args.summaries]
    except SummaryError as error:
        sys.exit(f"plot_convergence.py: {error}")
    labels = args.labels or default_labels(runs)
    out = Path(args.output)
    try:
        plot(runs, labels, args.x_axes, args.title or default_title(runs), args.log_y, args.ylim, out)
    except (OSError, ValueError) as error:
        sys.exit(f"plot_convergence.py: cannot write {out}: {error}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
