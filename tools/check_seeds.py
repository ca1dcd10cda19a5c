#!/usr/bin/env python3
"""Validate the seed term lists in descriptors/seeds/*.txt.

Usage:
    python3 tools/check_seeds.py [--seeds-dir DIR] [--strict] [--verbose] [--benchmarks DIR]

Each seed file is named <LABEL>.txt and looks like:

    # label: DRUG
    # group: THERAPEUTIC_OR_PREVENTIVE_PROCEDURE
    # source: <where the terms come from>
    # licence: <licence of the list>
    # note: <optional one-line note>
    imatinib
    aspirin
    ...

Errors (exit status 1):
  * file not valid UTF-8, has a byte-order mark, CR line endings, or no final newline;
  * header missing or not first, unknown / repeated / out-of-order header key, empty header value
    (required keys in this order: label, group, source, licence; optional: note, last);
  * `label` differs from the file name, or is not a label of the Jan-2022 entity map
    (ALGORITHM.md section 6, embedded below); `group` is not the group of that label;
  * blank or whitespace-only line, leading/trailing whitespace, tab or control character,
    repeated inner spaces, comment line after the header, term not in Unicode NFC;
  * duplicate term within a file;
  * a file with no terms.
Warnings (exit status 0 unless --strict):
  * fewer than MIN_TERMS terms in a file;
  * single-word share of a group below MIN_SINGLE_WORD_SHARE;
  * share of terms that occur in more than one file above MAX_OVERLAP_SHARE.

Prints per-file, per-group and total distinct-term counts and single-word shares.

Test-split leakage check (--benchmarks DIR, e.g. ../shared/benchmarks):
  Project rule: seed terms must not be harvested from any benchmark TEST split. Each
  subdirectory of DIR with a test split is one dataset. Splits are found by file name: the
  stem (or its last `_` part) `test` is the test split; `train`, `dev`, `devel`, `valid`
  are the train/devel splits (test.tsv, train.tsv, devel.tsv, conllpp_test.txt, ...); other
  files (reference_*, SOURCE, ...) are not read. Formats: `token<TAB>tag`, CoNLL-2003
  `token POS chunk NER` (`-DOCSTART-` lines are document breaks) and `token TAG`; the
  tag is the last field, one of O, B, I, B-X, I-X, B_X, I_X; a blank line ends a sentence.
  Gold mentions are maximal spans of a B (or a stray I) followed by Is of the same type.
  Two kinds of unit are compared:
    mention  the whole mention, its tokens joined by single spaces;
    token    each token of a mention that has a letter or digit.
  Units are compared case-insensitively (NFC, casefold) and ignoring spaces (the JNLPBA
  train/devel files split `IL-2` into `IL - 2`, its test file does not). For each kind,
  take the distinct units that occur ONLY in the test split and those that occur ONLY in
  the train/devel splits, and count how many of each are seed terms (whole unit equal to a seed term of
  any file, case-insensitive; a unit also matches when it equals a seed term with all
  spaces removed on both sides, so `non - small cell` matches `non-small cell`). Units
  in both sides say nothing about where a list came from and are left out.
  A list authored independently of the benchmark hits test-only and train/devel-only
  units at about the same rate; a list harvested from the test split hits test-only units
  much more often. A dataset is FLAGGED (an error, exit status 1) when, for either kind,
    * the one-sided Fisher exact test (hypergeometric upper tail; the exact form of the
      one-sided two-proportion test, valid for small counts) of
      H1: rate(test-only) > rate(train/devel-only) gives p < LEAK_ALPHA / 2
      (LEAK_ALPHA = 0.01 per dataset, Bonferroni over the two kinds), AND
    * rate(test-only) - rate(train/devel-only) >= LEAK_MIN_DIFF (2 percentage points).
  The p-value guards against chance on small sets; the minimum difference keeps a
  negligible difference on large sets from counting. A dataset without train/devel splits
  (custom) has no baseline: its figures are printed but it cannot be flagged.
  Prints, per dataset and kind, the counts and rates, the difference and p, and the first
  LEAK_LIST test-only units that are seed terms with their seed files (all of them with
  --verbose or when the dataset is flagged). The benchmark files are only read.

Standard library only.
"""

import argparse
import math
import os
import sys
import unicodedata
from collections import OrderedDict, defaultdict

# Jan-2022 entity map (`entity_types_consolidated.txt`, ALGORITHM.md section 6):
# group -> subtypes. Every group is also a label of itself.
ENTITY_MAP_JAN_2022 = OrderedDict([
    ("THERAPEUTIC_OR_PREVENTIVE_PROCEDURE", [
        "DRUG", "CHEMICAL_SUBSTANCE", "HAZARDOUS_OR_POISONOUS_SUBSTANCE",
        "ESTABLISHED_PHARMACOLOGIC_CLASS", "CHEMICAL_CLASS", "VITAMIN", "LAB_PROCEDURE",
        "SURGICAL_AND_MEDICAL_PROCEDURES", "DIAGNOSTIC_PROCEDURE", "LAB_TEST_COMPONENT",
        "STUDY", "DRUG_ADJECTIVE"]),
    ("DISEASE", [
        "MENTAL_OR_BEHAVIORAL_DYSFUNCTION", "CONGENITAL_ABNORMALITY",
        "CELL_OR_MOLECULAR_DYSFUNCTION", "DISEASE_ADJECTIVE"]),
    ("GENE", [
        "PROTEIN", "ENZYME", "VIRAL_PROTEIN", "RECEPTOR", "PROTEIN_FAMILY",
        "MOUSE_PROTEIN_FAMILY", "MOUSE_GENE", "NUCLEOTIDE_SEQUENCE",
        "GENE_EXPRESSION_ADJECTIVE"]),
    ("BODY_PART_OR_ORGAN_COMPONENT", [
        "BODY_LOCATION_OR_REGION", "BODY_SUBSTANCE", "CELL", "CELL_LINE", "CELL_COMPONENT",
        "BIO_MOLECULE", "METABOLITE", "HORMONE", "BODY_ADJECTIVE"]),
    ("ORGANISM_FUNCTION", [
        "ORGAN_OR_TISSUE_FUNCTION", "PHYSIOLOGIC_FUNCTION", "CELL_FUNCTION",
        "FUNCTION_ADJECTIVE"]),
    ("BIO", ["SPECIES", "BACTERIUM", "VIRUS", "BIO_ADJECTIVE"]),
    ("OBJECT", ["PRODUCT", "MEDICAL_DEVICE", "DEVICE", "DEVICE_ADJECTIVE"]),
    ("MEASURE", ["NUMBER", "TIME", "SEQUENCE", "MEASURE_ADJECTIVE"]),
    ("PERSON", ["PERSON_ADJECTIVE"]),
    ("ORGANIZATION", ["UNIV", "GOV", "EDU", "ORGANIZATION_ADJECTIVE"]),
    ("ENT", ["SPORT", "MOV", "MUSIC", "ENT_ADJECTIVE"]),
    ("LOCATION", ["LOCATION_ADJECTIVE"]),
    ("SOCIAL_CIRCUMSTANCES", ["RELIGION", "SOCIAL_CIRCUMSTANCES_ADJECTIVE"]),
    ("COLOR", ["COLOR_ADJECTIVE"]),
    ("LANGUAGE", ["LANGUAGE_ADJECTIVE"]),
    ("GRAMMAR_CONSTRUCT", []),
    ("OTHER", []),
    ("UNTAGGED_ENTITY", []),
])

# Labels that exist only in the post-benchmark (HEAD, Feb 2022) map; named in error messages.
HEAD_ONLY_LABELS = {"LEGAL", "POLITICS", "SOFTWARE", "LEGAL_ADJECTIVE", "POLITICS_ADJECTIVE",
                    "SOFTWARE_ADJECTIVE", "PRODUCT_ADJECTIVE"}

REQUIRED_KEYS = ["label", "group", "source", "licence"]
OPTIONAL_KEYS = ["note"]
KEY_ORDER = REQUIRED_KEYS + OPTIONAL_KEYS

MIN_TERMS = 30
MIN_SINGLE_WORD_SHARE = 0.85
MAX_OVERLAP_SHARE = 0.05

# --benchmarks: per-dataset significance level (split over the two unit kinds), minimum
# excess of the test-only rate, and how many test-only seed hits to list per kind.
LEAK_ALPHA = 0.01
LEAK_MIN_DIFF = 0.02
LEAK_LIST = 20


def label_to_group():
    out = {}
    for group, subs in ENTITY_MAP_JAN_2022.items():
        for lab in [group] + subs:
            if lab in out:
                raise SystemExit("internal error: label %s listed twice in the map" % lab)
            out[lab] = group
    return out


LABEL_GROUP = label_to_group()
assert len(ENTITY_MAP_JAN_2022) == 18 and len(LABEL_GROUP) == 82
# Files under descriptors/seeds/feb2022/ hold the labels only the Feb-2022 taxonomy has.
FEB2022_GROUPS = {"LEGAL": "LEGAL", "LEGAL_ADJECTIVE": "LEGAL", "POLITICS": "POLITICS",
                  "POLITICS_ADJECTIVE": "POLITICS", "SOFTWARE": "SOFTWARE",
                  "SOFTWARE_ADJECTIVE": "SOFTWARE"}


def is_single_word(term):
    return " " not in term


def check_file(path, errors, warnings):
    """Return (label, group, [terms]) or None if the file could not be parsed."""
    name = os.path.basename(path)
    file_label = name[:-len(".txt")]

    def err(msg, lineno=None):
        where = "%s:%d" % (name, lineno) if lineno else name
        errors.append("%s: %s" % (where, msg))

    with open(path, "rb") as fh:
        raw = fh.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        err("starts with a UTF-8 byte-order mark")
        raw = raw[3:]
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        err("not valid UTF-8 (%s)" % exc)
        return None
    if "\r" in text:
        err("contains carriage returns (use LF line endings)")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        err("empty file")
        return None
    if not text.endswith("\n"):
        err("no newline at end of file")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    # --- header -----------------------------------------------------------------------------
    header = OrderedDict()
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        line = lines[i]
        lineno = i + 1
        if not line.startswith("# "):
            err("header line must start with '# ': %r" % line, lineno)
        body = line[1:].strip()
        if ":" not in body:
            err("header line is not '# key: value': %r" % line, lineno)
        else:
            key, value = body.split(":", 1)
            key, value = key.strip(), value.strip()
            if key not in KEY_ORDER:
                err("unknown header key %r (allowed: %s)" % (key, ", ".join(KEY_ORDER)), lineno)
            elif key in header:
                err("header key %r repeated" % key, lineno)
            else:
                if not value:
                    err("header key %r has an empty value" % key, lineno)
                if line != line.rstrip():
                    err("trailing whitespace in header", lineno)
                header[key] = value
        i += 1
    if i == 0:
        err("missing header: the first line must be '# label: %s'" % file_label, 1)
    keys = list(header)
    if keys and keys[0] != "label":
        err("first header key must be 'label', found %r" % keys[0], 1)
    for k in REQUIRED_KEYS:
        if k not in header:
            err("header key %r missing" % k)
    known = [k for k in keys if k in KEY_ORDER]
    if known != sorted(known, key=KEY_ORDER.index):
        err("header keys out of order: %s (expected order: %s)"
            % (", ".join(known), ", ".join(KEY_ORDER)))

    label = header.get("label")
    group = header.get("group")
    if label is not None:
        if label != file_label:
            err("label %r does not match the file name %r" % (label, name))
        if label not in LABEL_GROUP:
            extra = " (HEAD-only label, not in the Jan-2022 map)" if label in HEAD_ONLY_LABELS else ""
            err("label %r is not in the Jan-2022 entity map%s" % (label, extra))
        elif group is not None and LABEL_GROUP[label] != group:
            err("group %r is wrong for label %r (expected %r)" % (group, label, LABEL_GROUP[label]))
    if group is not None and group not in ENTITY_MAP_JAN_2022 and group not in LABEL_GROUP.values():
        err("group %r is not a group of the Jan-2022 entity map" % group)
    if file_label not in LABEL_GROUP:
        extra = " (HEAD-only label)" if file_label in HEAD_ONLY_LABELS else ""
        err("file name %r is not a label of the Jan-2022 entity map%s" % (name, extra))

    # --- terms ------------------------------------------------------------------------------
    terms = []
    seen = {}
    for j in range(i, len(lines)):
        line = lines[j]
        lineno = j + 1
        if not line.strip():
            err("blank or whitespace-only line", lineno)
            continue
        if line.startswith("#"):
            err("comment/header line after the header block: %r" % line, lineno)
            continue
        if line != line.strip():
            err("leading or trailing whitespace: %r" % line, lineno)
        if "  " in line:
            err("repeated spaces inside term: %r" % line, lineno)
        bad = [c for c in line if unicodedata.category(c)[0] == "C" or (c.isspace() and c != " ")]
        if bad:
            err("tab/control/invisible character(s) %r in %r" % ("".join(sorted(set(bad))), line),
                lineno)
        if unicodedata.normalize("NFC", line) != line:
            err("term not in Unicode NFC: %r" % line, lineno)
        term = line.strip()
        if term in seen:
            err("duplicate term %r (first on line %d)" % (term, seen[term]), lineno)
            continue
        seen[term] = lineno
        terms.append(term)
    if not terms:
        err("no terms")
    elif len(terms) < MIN_TERMS:
        warnings.append("%s: only %d terms (recommended minimum %d)" % (name, len(terms), MIN_TERMS))
    return (label or file_label, LABEL_GROUP.get(file_label, group), terms)


# --- test-split leakage check (--benchmarks) -------------------------------------------------

TEST_STEMS = {"test"}
TRAIN_STEMS = {"train", "dev", "devel", "valid", "validation"}
SPLIT_EXTS = (".tsv", ".txt", ".conll", ".bio", ".iob")


def split_kind(filename):
    """'test', 'train' (train or devel) or None, from a benchmark file name."""
    stem, ext = os.path.splitext(filename)
    if ext.lower() not in SPLIT_EXTS:
        return None
    stem = stem.lower()
    last = stem.rsplit("_", 1)[-1]
    for part in (stem, last):
        if part in TEST_STEMS:
            return "test"
        if part in TRAIN_STEMS:
            return "train"
    return None


def parse_tag(tag):
    """(prefix, type) for a BIO tag: ('O', None), ('B', ''), ('I', 'PER'), ...; None if unknown."""
    if tag == "O":
        return ("O", None)
    if tag in ("B", "I"):
        return (tag, "")
    if len(tag) > 2 and tag[0] in "BI" and tag[1] in "-_":
        return (tag[0], tag[2:])
    return None


def read_mentions(path):
    """Gold mentions of a BIO file, in file order, each a tuple of tokens."""
    mentions = []
    cur, cur_type = None, None

    def close():
        if cur:
            mentions.append(tuple(cur))

    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                close()
                cur, cur_type = None, None
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            fields = [f.strip() for f in fields]
            if fields[0] == "-DOCSTART-":
                close()
                cur, cur_type = None, None
                continue
            if len(fields) < 2 or not fields[0]:
                raise ValueError("%s:%d: expected 'token<sep>tag', got %r" % (path, lineno, line))
            parsed = parse_tag(fields[-1])
            if parsed is None:
                raise ValueError("%s:%d: unknown tag %r" % (path, lineno, fields[-1]))
            prefix, typ = parsed
            if prefix == "O":
                close()
                cur, cur_type = None, None
            elif prefix == "I" and cur is not None and typ == cur_type:
                cur.append(fields[0])
            else:  # B, or an I that does not continue the open span (starts one, as conlleval)
                close()
                cur, cur_type = [fields[0]], typ
    close()
    return mentions


def norm_key(text):
    return unicodedata.normalize("NFC", text).casefold()


def compact(key):
    return "".join(key.split())


def units_of(mentions):
    """kind -> OrderedDict(identity -> (key, surface of first occurrence)), for the kinds
    'mention' and 'token'. The identity ignores spaces, so that a split tokenised
    differently (JNLPBA train/devel split `IL - 2`, its test keeps `IL-2`) gives the same unit."""
    out = {"mention": OrderedDict(), "token": OrderedDict()}
    for toks in mentions:
        surface = " ".join(toks)
        key = norm_key(surface)
        out["mention"].setdefault(compact(key), (key, surface))
        for t in toks:
            if any(c.isalnum() for c in t):
                key = norm_key(t)
                out["token"].setdefault(compact(key), (key, t))
    return out


def fisher_greater(a, n1, c, n2):
    """One-sided Fisher exact p for rate a/n1 > c/n2: P(X >= a), X ~ Hypergeom(n1+n2, a+c, n1)."""
    k = a + c
    n = n1 + n2
    if k == 0 or n1 == 0 or n2 == 0:
        return 1.0

    def lchoose(x, y):
        return math.lgamma(x + 1) - math.lgamma(y + 1) - math.lgamma(x - y + 1)

    base = lchoose(n, n1)
    logs = [lchoose(k, x) + lchoose(n - k, n1 - x) - base
            for x in range(a, min(n1, k) + 1)]
    if not logs:
        return 0.0
    m = max(logs)
    return min(1.0, math.exp(m) * sum(math.exp(v - m) for v in logs))


def leakage_check(bench_dir, seed_files, verbose):
    """Print the leakage report; return (list of error strings, list of note strings).

    seed_files: case-insensitive seed key -> list of seed file names holding it."""
    errors, notes = [], []
    by_compact = defaultdict(list)
    for key, files in seed_files.items():
        by_compact[compact(key)].extend(f for f in files if f not in by_compact[compact(key)])

    def seed_match(key):
        if key in seed_files:
            return seed_files[key]
        return by_compact.get(compact(key))

    if not os.path.isdir(bench_dir):
        return ["benchmarks directory not found: %s" % bench_dir], notes
    datasets = []
    for name in sorted(os.listdir(bench_dir)):
        d = os.path.join(bench_dir, name)
        if name.startswith(".") or not os.path.isdir(d):
            continue
        files = sorted(f for f in os.listdir(d) if os.path.isfile(os.path.join(d, f)))
        test = [f for f in files if split_kind(f) == "test"]
        train = [f for f in files if split_kind(f) == "train"]
        if test:
            datasets.append((name, d, test, train))
        else:
            notes.append("benchmarks: %s has no test split, skipped" % name)
    if not datasets:
        return ["no dataset with a test split under %s" % bench_dir], notes

    alpha = LEAK_ALPHA / 2  # Bonferroni over the two unit kinds
    print()
    print("test-split leakage (benchmarks: %s; %d case-insensitive seed terms)"
          % (bench_dir, len(seed_files)))
    print("  unit kinds: mention = whole gold mention, token = one token of a mention;")
    print("  hits = distinct units equal to a seed term (case-insensitive); flag if the test-only")
    print("  rate exceeds the train/devel-only rate with one-sided Fisher p < %g and by >= %g pp"
          % (alpha, 100 * LEAK_MIN_DIFF))
    hdr = "  %-15s %-7s %8s %6s %7s %9s %6s %7s %8s %9s  %s" % (
        "dataset", "unit", "test-only", "hits", "rate", "trdv-only", "hits", "rate", "diff pp",
        "p", "verdict")
    print(hdr)
    details = []
    for name, d, test_files, train_files in datasets:
        try:
            test_m = [m for f in test_files for m in read_mentions(os.path.join(d, f))]
            train_m = [m for f in train_files for m in read_mentions(os.path.join(d, f))]
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            errors.append("benchmarks: %s: cannot read: %s" % (name, exc))
            continue
        tu, ru = units_of(test_m), units_of(train_m)
        flagged_kinds = []
        rows = []
        for kind in ("mention", "token"):
            t_only = [v for ident, v in tu[kind].items() if ident not in ru[kind]]
            r_only = [v for ident, v in ru[kind].items() if ident not in tu[kind]]
            t_hits = [(sf, seed_match(k)) for k, sf in t_only if seed_match(k)]
            r_hits = sum(1 for k, _ in r_only if seed_match(k))
            n1, a, n2, c = len(t_only), len(t_hits), len(r_only), r_hits
            r1 = a / n1 if n1 else 0.0
            if not train_files:
                print("  %-15s %-7s %9d %6d %6.2f%% %9s %6s %7s %8s %9s  %s" % (
                    name, kind, n1, a, 100 * r1, "-", "-", "-", "-", "-",
                    "no train/devel split: not tested"))
                rows.append((kind, t_hits, False))
                continue
            r2 = c / n2 if n2 else 0.0
            diff = r1 - r2
            pval = fisher_greater(a, n1, c, n2)
            bad = pval < alpha and diff >= LEAK_MIN_DIFF
            if bad:
                flagged_kinds.append(kind)
            print("  %-15s %-7s %9d %6d %6.2f%% %9d %6d %6.2f%% %+8.2f %9.2g  %s" % (
                name, kind, n1, a, 100 * r1, n2, c, 100 * r2, 100 * diff, pval,
                "FLAGGED" if bad else "ok"))
            rows.append((kind, t_hits, bad))
        if flagged_kinds:
            errors.append("benchmarks: %s: seed terms look harvested from the test split (%s: "
                          "test-only rate clearly above the train/devel-only rate)"
                          % (name, ", ".join(flagged_kinds)))
        details.append((name, test_files, rows, bool(flagged_kinds)))

    for name, test_files, rows, flagged in details:
        print()
        print("  %s (%s): test-only units that are seed terms%s"
              % (name, ", ".join(test_files), " -- FLAGGED, all listed" if flagged else ""))
        for kind, hits, _ in rows:
            show = hits if (flagged or verbose) else hits[:LEAK_LIST]
            more = "" if len(show) == len(hits) else " (first %d of %d)" % (len(show), len(hits))
            print("    %s: %d%s" % (kind, len(hits), more))
            for surface, files in show:
                print("      %s  [%s]" % (surface, ", ".join(files)))
    return errors, notes


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_dir = os.path.join(os.path.dirname(here), "descriptors", "seeds")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds-dir", default=default_dir)
    ap.add_argument("--strict", action="store_true", help="treat warnings as errors")
    ap.add_argument("--verbose", action="store_true",
                    help="list per-file counts and the terms shared between files")
    ap.add_argument("--benchmarks", metavar="DIR",
                    help="also check that no seed list looks harvested from a benchmark test "
                         "split (DIR holds one subdirectory per dataset)")
    args = ap.parse_args()

    if not os.path.isdir(args.seeds_dir):
        print("ERROR: seeds directory not found: %s" % args.seeds_dir)
        return 1
    paths = sorted(os.path.join(args.seeds_dir, f) for f in os.listdir(args.seeds_dir)
                   if f.endswith(".txt"))
    # README.md documents the seed policy; it is not a seed file.
    others = sorted(f for f in os.listdir(args.seeds_dir)
                    if not f.endswith(".txt") and not f.startswith(".") and f != "README.md"
                    and not os.path.isdir(os.path.join(args.seeds_dir, f)))
    subdirs = sorted(f for f in os.listdir(args.seeds_dir)
                     if os.path.isdir(os.path.join(args.seeds_dir, f)) and not f.startswith("."))
    errors, warnings = [], []
    for f in others:
        warnings.append("%s: not a .txt file, ignored" % f)
    if "feb2022" in subdirs:
        feb = os.path.join(args.seeds_dir, "feb2022")
        feb_paths = sorted(os.path.join(feb, f) for f in os.listdir(feb) if f.endswith(".txt"))
        LABEL_GROUP.update(FEB2022_GROUPS)
        for p in feb_paths:
            label = os.path.basename(p)[:-4]
            if label not in FEB2022_GROUPS:
                errors.append("%s: only Feb-2022 labels belong in feb2022/" % p)
        paths = paths + feb_paths
        subdirs = [d for d in subdirs if d != "feb2022"]
    if subdirs:
        print("note: subdirectories are not checked (check them with --seeds-dir): %s\n"
              % ", ".join(subdirs))
    if not paths:
        errors.append("no *.txt seed files in %s" % args.seeds_dir)

    per_file = OrderedDict()  # label -> (group, terms)
    shown = {}  # label -> file name as shown (feb2022/ files with their subdirectory)
    for p in paths:
        res = check_file(p, errors, warnings)
        if res is not None:
            label, group, terms = res
            per_file[os.path.basename(p)[:-4]] = (group, terms)
            shown[os.path.basename(p)[:-4]] = os.path.relpath(p, args.seeds_dir)

    # term -> files
    where = defaultdict(list)
    for lab, (_, terms) in per_file.items():
        for t in terms:
            where[t].append(lab)

    def share(n, d):
        return (100.0 * n / d) if d else 0.0

    # --- report -----------------------------------------------------------------------------
    if args.verbose:
        print("per file:")
        print("  %-38s %-36s %6s %7s" % ("label", "group", "terms", "single%"))
        for lab, (group, terms) in per_file.items():
            single = sum(1 for t in terms if is_single_word(t))
            print("  %-38s %-36s %6d %6.1f%%" % (lab, group or "?", len(terms), share(single, len(terms))))
        print()

    print("per group (distinct = distinct exact strings over the group's files):")
    print("  %-36s %5s %8s %8s %7s" % ("group", "files", "terms", "distinct", "single%"))
    all_terms = set()
    for group in ENTITY_MAP_JAN_2022:
        files = [lab for lab, (g, _) in per_file.items() if g == group]
        if not files:
            continue
        n_terms = sum(len(per_file[l][1]) for l in files)
        distinct = set(t for l in files for t in per_file[l][1])
        single = sum(1 for t in distinct if is_single_word(t))
        all_terms |= distinct
        print("  %-36s %5d %8d %8d %6.1f%%" % (group, len(files), n_terms, len(distinct),
                                             share(single, len(distinct))))
        if distinct and single / len(distinct) < MIN_SINGLE_WORD_SHARE:
            warnings.append("group %s: single-word share %.1f%% below %.0f%%"
                            % (group, share(single, len(distinct)), 100 * MIN_SINGLE_WORD_SHARE))
    for lab, (g, terms) in per_file.items():  # files whose group could not be determined
        if g not in ENTITY_MAP_JAN_2022:
            all_terms |= set(terms)
    total_single = sum(1 for t in all_terms if is_single_word(t))
    lower = set(t.lower() for t in all_terms)
    shared = sorted(t for t, labs in where.items() if len(labs) > 1)
    print()
    print("files: %d   labels without a seed file: %d"
          % (len(per_file), len([l for l in LABEL_GROUP if l not in per_file])))
    print("total distinct terms: %d (case-insensitive: %d)" % (len(all_terms), len(lower)))
    print("single-word terms: %d (%.1f%%)" % (total_single, share(total_single, len(all_terms))))
    print("terms in more than one file: %d (%.1f%% of distinct terms)"
          % (len(shared), share(len(shared), len(all_terms))))
    if all_terms and len(shared) / len(all_terms) > MAX_OVERLAP_SHARE:
        warnings.append("%.1f%% of terms occur in more than one file (keep below %.0f%%)"
                        % (share(len(shared), len(all_terms)), 100 * MAX_OVERLAP_SHARE))
    if args.verbose and shared:
        print("shared terms:")
        for t in shared:
            print("  %s: %s" % (t, ", ".join(where[t])))

    if args.benchmarks:
        seed_files = OrderedDict()  # case-insensitive term -> seed files holding it
        for lab, (_, terms) in per_file.items():
            for t in terms:
                files = seed_files.setdefault(norm_key(t), [])
                if shown[lab] not in files:
                    files.append(shown[lab])
        leak_errors, leak_notes = leakage_check(args.benchmarks, seed_files, args.verbose)
        errors.extend(leak_errors)
        for n in leak_notes:
            print("note: %s" % n)

    if warnings:
        print()
        for w in warnings:
            print("WARNING: %s" % w)
    if errors:
        print()
        for e in errors:
            print("ERROR: %s" % e)
    failed = bool(errors) or (args.strict and bool(warnings))
    print()
    print("FAILED: %d error(s), %d warning(s)" % (len(errors), len(warnings)) if failed
          else "OK: %d file(s), %d warning(s)" % (len(per_file), len(warnings)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
