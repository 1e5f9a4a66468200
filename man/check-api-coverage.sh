#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-api-coverage.sh [--strict] INTROSPECT_XML... MANPAGE
# check-api-coverage.sh --self-check MANPAGE
#
# Compares the D-Bus API that the daemon really exports with the interface
# listings of org.pciassign1(5) (the ``` blocks written like
# `gdbus introspect`: "interface NAME {", "methods:", "signals:",
# "properties:").
#
# For every interface whose name starts with $API_PREFIX (default
# "org.pciassign1.") in the introspection XML, each method (with its in and
# out signatures), signal (with its signature) and property (with its type,
# access and EmitsChangedSignal value) must appear identically in the page.
# Members the page lists but the daemon does not export are reported as
# warnings, or as errors with --strict, unless the page marks them as not
# implemented (see below).
# In both modes every member of the listings must also be explained in the
# text: "*Name(" for methods and signals, "*Name*" for properties.
#
# "Not implemented yet" marker: a method or signal whose explanation (a
# scdoc term line starting with "*", that contains "*Name(", and the
# tab-indented lines below it) contains "(Not implemented yet" is part of the
# API contract but not exported by this version of the daemon.  Such a
# member is expected to be missing from the introspection data (no warning,
# also not with --strict); if the daemon does export it, the page is wrong
# and the check fails.
#
# INTROSPECT_XML: one or more files, e.g. from
#   busctl introspect --xml-interface org.pciassign1 /org/pciassign1
#   busctl introspect --xml-interface org.pciassign1 /org/pciassign1/device/...
# or `pci-assignd --bus-introspect`. Several objects' XML may be given (or
# concatenated in one file); duplicate interfaces are merged.
#
# Exit status: 0 ok, 1 mismatch, 2 usage or unreadable input.
set -eu

prefix=${API_PREFIX:-org.pciassign1.}
strict=0
self_check=0

usage() {
        echo "usage: $0 [--strict] INTROSPECT_XML... MANPAGE" >&2
        echo "       $0 --self-check MANPAGE" >&2
        exit 2
}

while [ $# -gt 0 ]; do
        case $1 in
        --strict) strict=1; shift ;;
        --self-check) self_check=1; shift ;;
        --help|-h) usage ;;
        --) shift; break ;;
        -*) usage ;;
        *) break ;;
        esac
done

if [ "$self_check" -eq 1 ]; then
        [ $# -eq 1 ] || usage
else
        [ $# -ge 2 ] || usage
fi

# The last argument is the man page, the others are XML files.
page=
xmls=
for a in "$@"; do
        if [ -n "$page" ]; then
                xmls="$xmls
$page"
        fi
        page=$a
done
for f in "$page" $xmls; do
        [ -r "$f" ] || { echo "$0: cannot read $f" >&2; exit 2; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Records, one per line, fields separated by single spaces ("-" = empty):
#   IFACE method NAME IN_SIG OUT_SIG
#   IFACE signal NAME SIG
#   IFACE property NAME TYPE ACCESS EMITS

# --- the page's listings -------------------------------------------------
awk -v prefix="$prefix" '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function emit_member(text,    name, args, n, a, i, f, nf, ins, outs, sig) {
        name = text; sub(/\(.*/, "", name); name = trim(name)
        args = text; sub(/^[^(]*\(/, "", args); sub(/\)[ \t]*;[ \t]*$/, "", args)
        ins = ""; outs = ""; sig = ""
        n = split(args, a, ",")
        for (i = 1; i <= n; i++) {
                a[i] = trim(a[i])
                if (a[i] == "") continue
                nf = split(a[i], f, /[ \t]+/)
                if (section == "methods") {
                        if (nf != 3 || (f[1] != "in" && f[1] != "out")) {
                                printf "%s:%d: bad argument \"%s\" of %s.%s\n", FILENAME, start, a[i], iface, name > "/dev/stderr"
                                bad = 1; continue
                        }
                        if (f[1] == "in") ins = ins f[2]; else outs = outs f[2]
                } else {
                        if (nf != 2) {
                                printf "%s:%d: bad argument \"%s\" of %s.%s\n", FILENAME, start, a[i], iface, name > "/dev/stderr"
                                bad = 1; continue
                        }
                        sig = sig f[1]
                }
        }
        if (section == "methods")
                print iface, "method", name, (ins == "" ? "-" : ins), (outs == "" ? "-" : outs)
        else
                print iface, "signal", name, (sig == "" ? "-" : sig)
}
/^```/ { inblock = !inblock; iface = ""; section = ""; pending = ""; next }
!inblock { next }
{
        line = trim($0)
        if (line ~ /^interface [^ ]+ \{$/) {
                iface = line; sub(/^interface /, "", iface); sub(/ \{$/, "", iface)
                if (index(iface, prefix) != 1) iface = ""
                section = ""; next
        }
        if (iface == "") next
        if (line == "};") { iface = ""; section = ""; next }
        if (line ~ /^(methods|signals|properties):$/) { section = line; sub(/:$/, "", section); next }
        if (member != "") {
                member = member " " line
                if (line ~ /\);$/) { emit_member(member); member = "" }
                next
        }
        if ((section == "methods" || section == "signals") && line ~ /^[A-Za-z_][A-Za-z0-9_]*\(/) {
                start = FNR
                if (line ~ /\);$/) emit_member(line); else member = line
                next
        }
        if (section == "properties") {
                if (line ~ /^@org\.freedesktop\.DBus\.Property\.EmitsChangedSignal\("[a-z]+"\)$/) {
                        pending = line; sub(/^[^"]*"/, "", pending); sub(/".*/, "", pending); next
                }
                if (line ~ /^@/) next
                if (line ~ /^(readonly|readwrite|writeonly) [^ ]+ [A-Za-z_][A-Za-z0-9_]*( = .*)?;$/) {
                        split(line, f, / /)
                        access = f[1] == "readonly" ? "read" : (f[1] == "readwrite" ? "readwrite" : "write")
                        print iface, "property", f[3], f[2], access, (pending == "" ? "true" : pending)
                        pending = ""; next
                }
        }
        if (line != "") {
                printf "%s:%d: cannot parse in %s (%s): %s\n", FILENAME, FNR, iface, section, line > "/dev/stderr"
                bad = 1
        }
}
END { if (inblock) { print FILENAME ": unterminated ``` block" > "/dev/stderr"; bad = 1 }
      exit bad }
' "$page" | sort -u >"$tmp/page" || { echo "FAIL: the interface listings of $page do not parse" >&2; exit 1; }

if [ ! -s "$tmp/page" ]; then
        echo "FAIL: no interface listing for $prefix* found in $page" >&2
        exit 1
fi

status=0

# --- every listed member is explained in the text ------------------------
awk '/^```/ { inblock = !inblock; next } !inblock' "$page" >"$tmp/text"

# Names of the methods and signals marked "(Not implemented yet" (see top).
awk -v marker="(Not implemented yet" '
function flush(    s) {
        if (term != "") {
                gsub(/[ \t]+/, " ", block)
                if (index(block, marker)) {
                        s = term
                        while (match(s, /\*[A-Za-z_][A-Za-z0-9_]*\(/)) {
                                print substr(s, RSTART + 1, RLENGTH - 2)
                                s = substr(s, RSTART + RLENGTH)
                        }
                }
        }
        term = ""; block = ""
}
/^\t/ || /^[ \t]*$/ { if (term != "") block = block " " $0; next }
{ flush(); if ($0 ~ /^\*/) { term = $0; block = $0 } }
END { flush() }
' "$tmp/text" | sort -u >"$tmp/marked"

is_marked() {
        grep -q -x -F -e "$1" "$tmp/marked"
}
while read -r iface kind name rest; do
        case $kind in
        property) pattern="*$name*" ;;
        *) pattern="*$name(" ;;
        esac
        if ! grep -q -F -e "$pattern" "$tmp/text"; then
                echo "FAIL: $iface.$name ($kind) is listed but not explained (no \"$pattern\" in the text)"
                status=1
        fi
done <"$tmp/page"

if [ "$self_check" -eq 1 ]; then
        n=$(wc -l <"$tmp/page")
        m=$(awk '$2 != "property"' "$tmp/page" | while read -r iface kind name rest; do
                if is_marked "$name"; then echo "$name"; fi
        done | wc -l)
        [ "$status" -eq 0 ] && echo "ok: $page lists $n members of $prefix*, each explained ($m marked not implemented yet)"
        exit "$status"
fi

# --- the introspection XML -----------------------------------------------
# RS=">" makes each tag one record, whatever the line breaks.
# shellcheck disable=SC2086
awk -v prefix="$prefix" 'BEGIN { RS = ">" }
function attr(rec, n,    s) {
        if (match(rec, "[ \t\n\r]" n "=\"[^\"]*\"")) {
                s = substr(rec, RSTART, RLENGTH); sub(/^[^"]*"/, "", s); sub(/"$/, "", s); return s
        }
        if (match(rec, "[ \t\n\r]" n "=\047[^\047]*\047")) {
                s = substr(rec, RSTART, RLENGTH); sub(/^[^\047]*\047/, "", s); sub(/\047$/, "", s); return s
        }
        return ""
}
function flush() {
        if (iface != "" && kind == "method")
                print iface, "method", name, (ins == "" ? "-" : ins), (outs == "" ? "-" : outs)
        else if (iface != "" && kind == "signal")
                print iface, "signal", name, (sig == "" ? "-" : sig)
        else if (iface != "" && kind == "property")
                print iface, "property", name, ptype, (paccess == "" ? "read" : paccess), (pemits == "" ? iface_emits : pemits)
        kind = ""
}
{
        rec = $0
        sub(/^[^<]*</, "", rec)              # text before the tag
        if (rec ~ /^[!?]/) next              # comments, DOCTYPE, <?xml
        closing = rec ~ /^\//
        selfclosing = rec ~ /\/[ \t\n\r]*$/
        tag = rec; sub(/^\//, "", tag); sub(/[ \t\n\r\/].*/, "", tag)
        if (closing) {
                if (tag == "method" || tag == "signal" || tag == "property") flush()
                if (tag == "interface") iface = ""
                next
        }
        if (tag == "interface") {
                iface = attr(rec, "name"); iface_emits = "true"
                if (index(iface, prefix) != 1) iface = ""
                if (selfclosing) iface = ""
        } else if (tag == "method" || tag == "signal") {
                kind = tag; name = attr(rec, "name"); ins = ""; outs = ""; sig = ""
                if (selfclosing) flush()
        } else if (tag == "property") {
                kind = tag; name = attr(rec, "name"); ptype = attr(rec, "type")
                paccess = attr(rec, "access"); pemits = ""
                if (selfclosing) flush()
        } else if (tag == "arg") {
                if (kind == "method") {
                        if (attr(rec, "direction") == "out") outs = outs attr(rec, "type")
                        else ins = ins attr(rec, "type")
                } else if (kind == "signal")
                        sig = sig attr(rec, "type")
        } else if (tag == "annotation" && attr(rec, "name") == "org.freedesktop.DBus.Property.EmitsChangedSignal") {
                if (kind == "property") pemits = attr(rec, "value")
                else if (kind == "") iface_emits = attr(rec, "value")
        }
}
' $xmls | sort -u >"$tmp/xml"

if [ ! -s "$tmp/xml" ]; then
        echo "FAIL: no interface $prefix* in the introspection data" >&2
        exit 1
fi

# Exported, but the page says it is not implemented yet.
while read -r iface kind name rest; do
        if [ "$kind" != property ] && is_marked "$name"; then
                echo "FAIL: $iface.$name ($kind) is exported, but the page says \"Not implemented yet\": remove the note"
                status=1
        fi
done <"$tmp/xml"

# Exported but not documented (or documented differently).
comm -23 "$tmp/xml" "$tmp/page" >"$tmp/missing"
while read -r iface kind name rest; do
        doc=$(awk -v i="$iface" -v k="$kind" -v n="$name" '$1 == i && $2 == k && $3 == n' "$tmp/page")
        if [ -n "$doc" ]; then
                echo "FAIL: $iface.$name ($kind) differs: daemon \"$rest\", page \"${doc#* * * }\""
        else
                echo "FAIL: $iface.$name ($kind $rest) is exported but not in the page"
        fi
        status=1
done <"$tmp/missing"

# Documented but not exported.
comm -13 "$tmp/xml" "$tmp/page" >"$tmp/extra"
unimplemented=
while read -r iface kind name rest; do
        if grep -q "^$iface $kind $name " "$tmp/xml"; then
                continue        # already reported as a difference
        fi
        if [ "$kind" != property ] && is_marked "$name"; then
                unimplemented="$unimplemented $name"
                continue        # the page says so
        fi
        if [ "$strict" -eq 1 ]; then
                echo "FAIL: $iface.$name ($kind $rest) is documented but not exported"
                status=1
        else
                echo "warning: $iface.$name ($kind $rest) is documented but not exported"
        fi
done <"$tmp/extra"

if [ -n "$unimplemented" ]; then
        echo "not exported, marked not implemented yet in the page:$unimplemented"
fi
if [ "$status" -eq 0 ]; then
        echo "ok: all $(wc -l <"$tmp/xml") exported members of $prefix* are documented in $page"
fi
exit "$status"
