#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Fallback runner for toml-test's TOML 1.0 files (tests/files-toml-1.0.0):
# valid/*.toml must decode to the JSON beside it, invalid/*.toml must make the
# decoder exit non-zero. Comparison follows toml-test's json.go (floats by
# value, nan by name, booleans case-insensitive); date-times are compared
# after normalising 't'/'z'/' ' like toml-test does.
import json, math, os, subprocess, sys

decoder, root = sys.argv[1], sys.argv[2]
files = [l.strip() for l in open(os.path.join(root, "files-toml-1.0.0")) if l.strip()]

def cmp(want, have, key):
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return "%s: expected a table/value, got %r" % (key, have)
        if set(want) == {"type", "value"} and not isinstance(want["value"], (dict, list)) or \
           (set(want) == {"type", "value"} and want.get("type") == "array"):
            if set(have) != {"type", "value"}:
                return "%s: expected a value, got %r" % (key, have)
            wt, ht = want["type"], have["type"]
            if wt != ht:
                return "%s: type %s, want %s" % (key, ht, wt)
            wv, hv = want["value"], have["value"]
            if wt == "float":
                wl, hl = wv.lower(), hv.lower()
                if wl.endswith("nan") or hl.endswith("nan"):
                    return None if wl.lstrip("+-") == hl.lstrip("+-") else "%s: %s != %s" % (key, hv, wv)
                return None if float(wl) == float(hl) else "%s: %s != %s" % (key, hv, wv)
            if wt in ("datetime", "datetime-local", "date-local", "time-local"):
                norm = lambda s: s.replace(" ", "T").replace("t", "T").replace("z", "Z")
                wn, hn = norm(wv), norm(hv)
                if "." in wn or "." in hn:  # fraction digits: compare as value
                    def split(s):
                        import re
                        m = re.match(r"(.*?)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", s)
                        return m.group(1), float(m.group(2) or "0"), m.group(3) or ""
                    return None if split(wn) == split(hn) else "%s: %s != %s" % (key, hv, wv)
                if wn.endswith("-00:00") or wn.endswith("+00:00"):
                    wn = wn[:-6] + "Z"
                if hn.endswith("-00:00") or hn.endswith("+00:00"):
                    hn = hn[:-6] + "Z"
                return None if wn == hn else "%s: %s != %s" % (key, hv, wv)
            if wt == "bool":
                wv, hv = wv.lower(), hv.lower()
            return None if wv == hv else "%s: %r != %r" % (key, hv, wv)
        if set(have) == {"type", "value"} and set(want) != {"type", "value"}:
            return "%s: expected a table, got a value" % key
        for k in want:
            if k not in have:
                return "missing key %s.%s" % (key, k)
        for k in have:
            if k not in want:
                return "unexpected key %s.%s" % (key, k)
        for k in want:
            e = cmp(want[k], have[k], key + "." + k)
            if e:
                return e
        return None
    if isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            return "%s: array length differs" % key
        for i, (w, h) in enumerate(zip(want, have)):
            e = cmp(w, h, "%s[%d]" % (key, i))
            if e:
                return e
        return None
    return "%s: bad expected JSON" % key

passed = failed = 0
for f in files:
    if not f.endswith(".toml"):
        continue
    data = open(os.path.join(root, f), "rb").read()
    try:
        r = subprocess.run([decoder], input=data, capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        print("FAIL %s: timeout" % f); failed += 1; continue
    if r.returncode < 0 or r.returncode > 1:
        print("FAIL %s: decoder crashed (%d)" % (f, r.returncode)); failed += 1; continue
    if f.startswith("invalid/"):
        if r.returncode == 0:
            print("FAIL %s: accepted an invalid document" % f); failed += 1
        else:
            passed += 1
        continue
    if r.returncode != 0:
        print("FAIL %s: rejected: %s" % (f, r.stderr.decode(errors="replace").strip())); failed += 1
        continue
    want = json.load(open(os.path.join(root, f[:-5] + ".json")))
    try:
        have = json.loads(r.stdout)
    except ValueError as e:
        print("FAIL %s: bad JSON: %s" % (f, e)); failed += 1; continue
    e = cmp(want, have, "")
    if e:
        print("FAIL %s: %s" % (f, e)); failed += 1
    else:
        passed += 1
print("toml-test: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
