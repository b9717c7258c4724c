#!/usr/bin/python3
"""Plot nmf_mpi's choice of k: held-out and training error against k, with the chosen k marked.

INPUT is either of the files `nmf_mpi -k LIST|RANGE -o PREFIX` writes when it chooses k by cross-validation:
  PREFIX_rank_selection.csv   columns k,folds,train_error,train_std,heldout_error,heldout_std,chosen
  PREFIX_summary.json         its "rank_selection" object {chosen, rule, cv_folds, cv_fraction, entries: [...]}
The errors are relative errors (||.||_F over the held-out, respectively training, entries divided by the norm of
X on the same entries), averaged over the folds; the error bars are their sample standard deviation over the
folds. The chosen k is marked by a vertical line labelled with the rule that chose it:
  se   the smallest k whose mean held-out error is within one standard error (std / sqrt(folds)) of the
       minimum -- the bound, minimum + one standard error, is drawn as a dotted horizontal line
  min  the k with the smallest mean held-out error
The CSV does not record the rule: it is read from PREFIX_summary.json next to the CSV when that exists, or given
with --rule; otherwise the legend says it is not recorded. Entries with no successful fold are left out.

The y axis is logarithmic unless --linear-y (the errors of a sweep over k often span a decade or more). When at
least two k, but not all, lie within 10% of the lowest held-out error, a second panel repeats the curves on a
linear axis zoomed on those k, where the choice is made: on the full scale the plateau past the true rank, the
error bars and the se bound are flat. --no-zoom leaves that panel out. The figure is drawn with matplotlib's Agg
backend (no display needed) and written to OUT (.png, .pdf, .svg, ...).

usage: scripts/plot_rank_selection.py [--title T] [--rule se|min] [--log-y | --linear-y] [--no-zoom]
                                      -o OUT.png INPUT
"""
import argparse
import csv
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
    sys.exit(f"plot_rank_selection.py needs matplotlib ({error}); run it with /usr/bin/python3")

CSV_COLUMNS = ("k", "folds", "train_error", "train_std", "heldout_error", "heldout_std", "chosen")
ENTRY_KEYS = ("k", "folds", "train_error", "train_std", "heldout_error", "heldout_std")
RULE_LABELS = {"se": "one-standard-error rule", "min": "minimum held-out error"}
ZOOM_WINDOW = 0.1  # the zoomed panel shows the k whose held-out error is within 10% of the lowest


class InputError(Exception):
    """An input file that is missing, unreadable or not shaped like nmf_mpi's rank-selection output."""


class PlainLogFormatter(matplotlib.ticker.LogFormatter):
    """LogFormatter's choice of which ticks to label, written as plain numbers: 0.04 rather than 4e-02."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.3g}"


def number(value, what, where, integer=False):
    """value as a float (or int), or InputError naming `what` and `where`. Strings (from the CSV) are parsed."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise InputError(f"{where}: {what} is {text!r}, not {'an integer' if integer else 'a number'}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: {what} is {value!r}, not a number")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise InputError(f"{where}: {what} is {value!r}, not an integer")
        return int(value)
    if not math.isfinite(value):
        raise InputError(f"{where}: {what} is {value!r}, not a finite number")
    return float(value)


def entry_from(raw, where):
    """One k's scores as a dict of numbers; `raw` maps ENTRY_KEYS to strings (CSV) or numbers (JSON)."""
    entry = {}
    for key in ENTRY_KEYS:
        entry[key] = number(raw[key], key, where, integer=key in ("k", "folds"))
    if entry["k"] < 1 or entry["folds"] < 0:
        raise InputError(f"{where}: k = {entry['k']}, folds = {entry['folds']} (need k >= 1, folds >= 0)")
    if entry["folds"] > 0 and (entry["train_std"] < 0 or entry["heldout_std"] < 0):
        raise InputError(f"{where}: a negative standard deviation")
    return entry


def read_csv(path):
    """(entries, chosen k or None, rule or None) from a PREFIX_rank_selection.csv."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read it ({error})") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(f"{path}: the file is empty")
    header = [cell.strip() for cell in rows[0]]
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing:
        raise InputError(f"{path}: not an nmf_mpi rank-selection CSV (header {','.join(header)!r} lacks "
                         f"{', '.join(missing)}; expected {','.join(CSV_COLUMNS)})")
    entries, chosen = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"{path}, line {line}: {len(row)} fields, the header has {len(header)}")
        raw = dict(zip(header, row))
        entry = entry_from(raw, f"{path}, line {line}")
        flag = number(raw["chosen"], "chosen", f"{path}, line {line}", integer=True)
        if flag not in (0, 1):
            raise InputError(f"{path}, line {line}: chosen is {flag}, expected 0 or 1")
        if flag:
            chosen.append(entry["k"])
        entries.append(entry)
    if len(chosen) > 1:
        raise InputError(f"{path}: {len(chosen)} rows are marked chosen (k = {', '.join(map(str, chosen))})")
    return entries, (chosen[0] if chosen else None), None


def read_summary(path):
    """(entries, chosen k or None, rule or None) from a PREFIX_summary.json's rank_selection."""
    try:
        summary = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(summary, dict):
        raise InputError(f"{path}: expected a JSON object (an nmf_mpi summary), found {type(summary).__name__}")
    if "rank_selection" not in summary:
        raise InputError(f"{path}: no 'rank_selection' in this summary (nmf_mpi writes it only when -k gives "
                         f"several values, e.g. -k 2:12, with --algo hals or als)")
    selection = summary["rank_selection"]
    if not isinstance(selection, dict) or not isinstance(selection.get("entries"), list):
        raise InputError(f"{path}: 'rank_selection' is not an object with a list 'entries'")
    entries = []
    for i, raw in enumerate(selection["entries"]):
        where = f"{path}: rank_selection.entries[{i}]"
        if not isinstance(raw, dict) or any(key not in raw for key in ENTRY_KEYS):
            raise InputError(f"{where} lacks one of {', '.join(ENTRY_KEYS)}: {raw!r}")
        entries.append(entry_from(raw, where))
    chosen = selection.get("chosen")
    if chosen is not None:
        chosen = number(chosen, "rank_selection.chosen", path, integer=True) or None  # 0: nothing chosen
    rule = selection.get("rule")
    return entries, chosen, (str(rule) if rule is not None else None)


def load(path, rule_option):
    """(entries with folds > 0 sorted by k, chosen k, rule, number of entries left out) from INPUT."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() == ".json":
        entries, chosen, rule = read_summary(path)
    elif path.suffix.lower() == ".csv":
        entries, chosen, rule = read_csv(path)
        sibling = path.with_name(path.name[: -len("rank_selection.csv")] + "summary.json") \
            if path.name.endswith("rank_selection.csv") else None
        if rule is None and sibling is not None and sibling.is_file():
            try:
                rule = read_summary(sibling)[2]
            except InputError:
                pass  # the CSV is what was asked for; a broken neighbour only costs the rule's name
    else:
        raise InputError(f"{path}: expected PREFIX_rank_selection.csv or PREFIX_summary.json (by the suffix)")
    if rule_option is not None:
        if rule is not None and rule != rule_option:
            print(f"plot_rank_selection.py: warning: --rule {rule_option} overrides the recorded rule {rule!r}",
                  file=sys.stderr)
        rule = rule_option
    ks = [entry["k"] for entry in entries]
    if len(set(ks)) != len(ks):
        raise InputError(f"{path}: some k appears more than once ({', '.join(map(str, ks))})")
    if not entries:
        raise InputError(f"{path}: no entries (no k was scored)")
    fitted = sorted((entry for entry in entries if entry["folds"] > 0), key=lambda entry: entry["k"])
    if not fitted:
        raise InputError(f"{path}: no k has a successful fold ({len(entries)} entries, all with folds = 0)")
    if chosen is not None and chosen not in ks:
        raise InputError(f"{path}: the chosen k = {chosen} is not among the entries ({', '.join(map(str, ks))})")
    return fitted, chosen, rule, len(entries) - len(fitted)


def default_title(entries):
    folds = sorted({entry["folds"] for entry in entries})
    fold_text = f"{folds[0]} folds" if len(folds) == 1 else f"{folds[0]}-{folds[-1]} folds"
    return f"Choice of k by cross-validation (k = {entries[0]['k']}..{entries[-1]['k']}, {fold_text})"


def zoom_limits(entries):
    """y range of the zoomed panel: the k whose held-out error is within ZOOM_WINDOW of the minimum, with their
    error bars and training errors and the se bound, plus a margin; None if that is every k (nothing to zoom) or
    only one (nothing to compare)."""
    floor = min(e["heldout_error"] for e in entries)
    near = [e for e in entries if e["heldout_error"] <= floor * (1 + ZOOM_WINDOW)]
    if len(near) == len(entries) or len(near) < 2:
        return None
    best = min(entries, key=lambda e: e["heldout_error"])
    low = min(min(e["train_error"] - e["train_std"], e["heldout_error"] - e["heldout_std"]) for e in near)
    high = max(max(e["train_error"] + e["train_std"], e["heldout_error"] + e["heldout_std"]) for e in near)
    high = max(high, best["heldout_error"] + best["heldout_std"] / math.sqrt(best["folds"]))
    margin = 0.08 * (high - low) if high > low else 0.01 * abs(high) or 1e-12
    return low - margin, high + margin


def draw(axis, entries, chosen, rule, legend):
    """The curves, the se bound and the chosen k on one axis."""
    ks = [entry["k"] for entry in entries]
    axis.errorbar(ks, [e["heldout_error"] for e in entries], yerr=[e["heldout_std"] for e in entries],
                  color="C0", marker="o", markersize=5, linewidth=1.8, capsize=3,
                  label="held-out error (mean over folds $\\pm$ std)")
    axis.errorbar(ks, [e["train_error"] for e in entries], yerr=[e["train_std"] for e in entries],
                  color="C1", marker="s", markersize=4, linewidth=1.4, linestyle="--", capsize=3,
                  label="training error (mean over folds $\\pm$ std)")
    if rule == "se":
        best = min(entries, key=lambda e: e["heldout_error"])
        bound = best["heldout_error"] + best["heldout_std"] / math.sqrt(best["folds"])
        axis.axhline(bound, color="0.4", linestyle=":", linewidth=1.2,
                     label=f"held-out minimum (k = {best['k']}) + one standard error")
    if chosen is not None:
        by_k = {e["k"]: e for e in entries}
        if rule in RULE_LABELS:
            how = RULE_LABELS[rule]
        elif rule is None:
            how = "rule not recorded"
        else:
            how = f"rule {rule}"
        axis.axvline(chosen, color="C3", linewidth=1.6, alpha=0.8, label=f"chosen k = {chosen} ({how})")
        if chosen in by_k:
            axis.plot([chosen], [by_k[chosen]["heldout_error"]], marker="*", markersize=15, color="C3",
                      markeredgecolor="black", linestyle="none", zorder=5)
    axis.set_xlabel("k (number of factors)")
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=min(len(ks) + 1, 16)))
    axis.grid(True, which="major", alpha=0.5)
    axis.grid(True, which="minor", alpha=0.2)
    if legend:
        axis.legend(loc="best", fontsize="small")


def plot(entries, chosen, rule, title, log_y, zoom, out):
    limits = zoom_limits(entries) if zoom else None
    panels = 2 if limits else 1
    figure, axes = plt.subplots(1, panels, figsize=(7.2 * panels, 4.8), squeeze=False)
    axes = axes[0]
    ylabel = r"relative error $\Vert X - AS\Vert_F \,/\, \Vert X\Vert_F$"
    axis = axes[0]
    draw(axis, entries, chosen, rule, legend=True)
    axis.set_ylabel(ylabel + (" (log scale)" if log_y else ""))
    if log_y:
        axis.set_yscale("log")
        for setter in (axis.yaxis.set_major_formatter, axis.yaxis.set_minor_formatter):
            setter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    if limits:
        axis.set_title("all k", fontsize="medium")
        axis = axes[1]
        draw(axis, entries, chosen, rule, legend=False)
        axis.set_ylim(*limits)
        axis.set_ylabel(ylabel + " (linear scale)")
        axis.yaxis.get_major_formatter().set_useOffset(False)
        axis.set_title(f"zoom: the k within {100 * ZOOM_WINDOW:g}% of the lowest held-out error", fontsize="medium")
    figure.suptitle(title)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="INPUT", help="PREFIX_rank_selection.csv or PREFIX_summary.json")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.png", help="image to write (format from suffix)")
    parser.add_argument("--title", default=None, help="figure title (default: the range of k and the folds)")
    parser.add_argument("--rule", choices=sorted(RULE_LABELS), default=None,
                        help="the rule that chose k, for the legend (default: as recorded in the summary)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--log-y", dest="log_y", action="store_true", default=True, help="log-scale error (default)")
    scale.add_argument("--linear-y", dest="log_y", action="store_false", help="linear error axis")
    parser.add_argument("--no-zoom", dest="zoom", action="store_false",
                        help="draw only the full range (no second panel zoomed on the lowest held-out errors)")
    args = parser.parse_args()

    try:
        entries, chosen, rule, left_out = load(args.input, args.rule)
    except InputError as error:
        sys.exit(f"plot_rank_selection.py: {error}")
    if left_out:
        print(f"plot_rank_selection.py: left out {left_out} k with no successful fold", file=sys.stderr)
    if chosen is None:
        print(f"plot_rank_selection.py: warning: {args.input} marks no chosen k", file=sys.stderr)
    out = Path(args.output)
    try:
        plot(entries, chosen, rule, args.title or default_title(entries), args.log_y, args.zoom, out)
    except (OSError, ValueError) as error:
        sys.exit(f"plot_rank_selection.py: cannot write {out}: {error}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
