#!/usr/bin/env bash
# Builds the API reference (DocC) of every library product with the toolchain's own `docc`:
# no swift-docc-plugin in Package.swift, so users of the package never resolve it.
#
#   scripts/docs.sh            (what `make docs` runs)
#
# Each library product's catalog is Sources/<Target>/Documentation.docc with a landing page
# <Target>.md; a library product without one is an error. Symbol graphs come from a debug build in
# its own scratch directory, .build/docs/scratch: the compiler flags that emit them would force a
# full rebuild of .build if used there (and another one at the next plain `swift build`). The first
# run builds the dependencies (about 6 minutes on 2 cores); later runs recompile only what changed.
# Each module's graphs then go through `docc convert --warnings-as-errors` into
# .build/docs/<Target>.doccarchive: any DocC warning fails the run. Look at an archive with
# `docc preview Sources/<Target>/Documentation.docc --additional-symbol-graph-dir
# .build/docs/symbol-graphs/<Target>`, or serve .build/docs/<Target>.doccarchive over HTTP
# (its page is /documentation/<target in lower case>).
#
# Environment: SWIFT (default swift), DOCC (default the docc beside swift; xcrun's on macOS),
# DOCS_DIR (default .build/docs), DOCS_BUILD_FLAGS (more `swift build` flags), DOCS_JOBS (docc
# conversions at once, default 4).
set -euo pipefail

cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
DOCS_DIR=${DOCS_DIR:-.build/docs}
DOCS_BUILD_FLAGS=${DOCS_BUILD_FLAGS:-}
DOCS_JOBS=${DOCS_JOBS:-4}
BUNDLE_PREFIX=org.swift-session-manager

if [ -z "${DOCC:-}" ]; then
    if command -v xcrun >/dev/null 2>&1; then
        DOCC=$(xcrun --find docc)
    else
        swift_path=$(command -v "$SWIFT") || { echo "docs: $SWIFT not found" >&2; exit 1; }
        DOCC="$(dirname "$(readlink -f "$swift_path")")/docc"
    fi
fi
if [ ! -x "$DOCC" ]; then
    echo "docs: no docc at $DOCC (set DOCC=/path/to/docc)" >&2
    exit 1
fi

# Every library product needs a catalog; every catalog is built.
products=$(sed -n 's/.*\.library(name: "\([A-Za-z0-9_]*\)".*/\1/p' Package.swift)
missing=0
for product in $products; do
    if [ ! -f "Sources/$product/Documentation.docc/$product.md" ]; then
        echo "docs: library product $product has no catalog (Sources/$product/Documentation.docc/$product.md)" >&2
        missing=1
    fi
done
[ "$missing" -eq 0 ] || exit 1

targets=()
for catalog in Sources/*/Documentation.docc; do
    [ -d "$catalog" ] || continue
    target=$(basename "$(dirname "$catalog")")
    if [ ! -f "$catalog/$target.md" ]; then
        echo "docs: $catalog has no landing page $target.md" >&2
        exit 1
    fi
    targets+=("$target")
done

case "$DOCS_DIR" in
    /*) ;;
    *) DOCS_DIR="$PWD/$DOCS_DIR" ;;
esac
shown_dir=${DOCS_DIR#"$PWD/"}
scratch="$DOCS_DIR/scratch"
all_graphs="$DOCS_DIR/symbol-graphs/all"
mkdir -p "$all_graphs"
rm -f "$DOCS_DIR"/build-*.log
marker="$DOCS_DIR/symbol-graphs/.build-started"
touch "$marker"
start=$SECONDS

# `swift build` takes one --target, and a target's build compiles its dependencies: build only the
# documented targets no other documented target depends on (6 builds instead of 10).
roots=$("$SWIFT" package --scratch-path "$scratch" describe --type json 2>/dev/null | python3 -c '
import json, sys
wanted = set(sys.argv[1:])
deps = {t["name"]: t.get("target_dependencies") or [] for t in json.load(sys.stdin)["targets"]}
def closure(name, seen):
    for d in deps.get(name, []):
        if d not in seen:
            seen.add(d)
            closure(d, seen)
    return seen
covered = set()
for t in wanted:
    covered |= closure(t, set())
print(" ".join(sorted(wanted - covered)))
' "${targets[@]}") || roots="${targets[*]}"
[ -n "$roots" ] || roots="${targets[*]}"

# Symbol graphs: the compiler writes <Module>.symbols.json and <Module>@<Extended>.symbols.json
# for every module it compiles (dependencies too: only ours are used below). A module that did not
# need recompiling keeps the graphs of its last build.
build() {
    local target=$1
    echo "docs: building $target (symbol graphs)"
    # shellcheck disable=SC2086
    if ! "$SWIFT" build --scratch-path "$scratch" --target "$target" $DOCS_BUILD_FLAGS \
        -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$all_graphs" \
        -Xswiftc -symbol-graph-minimum-access-level -Xswiftc public \
        -Xswiftc -emit-extension-block-symbols -Xswiftc -symbol-graph-skip-inherited-docs \
        >"$DOCS_DIR/build-$target.log" 2>&1; then
        cat "$DOCS_DIR/build-$target.log" >&2
        echo "docs: swift build --target $target failed" >&2
        exit 1
    fi
}
for target in $roots; do
    build "$target"
done
for target in "${targets[@]}"; do
    if [ ! -f "$all_graphs/$target.symbols.json" ]; then
        # Up to date but its graph gone (deleted by hand): emitting the module again writes it.
        rm -f "$scratch"/*/debug/Modules/"$target".swiftmodule
        build "$target"
        if [ ! -f "$all_graphs/$target.symbols.json" ]; then
            echo "docs: no symbol graph for $target in $all_graphs" >&2
            exit 1
        fi
    fi
done
built=$SECONDS

# One directory of graphs per module, so that each archive documents its own module only.
for target in "${targets[@]}"; do
    graphs="$DOCS_DIR/symbol-graphs/$target"
    rm -rf "$graphs"
    mkdir -p "$graphs"
    for file in "$all_graphs/$target.symbols.json" "$all_graphs/$target"@*.symbols.json; do
        [ -f "$file" ] || continue
        # An extension graph older than a freshly rebuilt module's main graph is left over from an
        # extension that no longer exists.
        if [ "$all_graphs/$target.symbols.json" -nt "$marker" ] && [ "$file" -ot "$marker" ]; then
            rm -f "$file"
            continue
        fi
        cp "$file" "$graphs/"
    done
done

convert() {
    local target=$1
    rm -rf "$DOCS_DIR/$target.doccarchive"
    "$DOCC" convert "Sources/$target/Documentation.docc" \
        --additional-symbol-graph-dir "$DOCS_DIR/symbol-graphs/$target" \
        --fallback-display-name "$target" \
        --fallback-bundle-identifier "$BUNDLE_PREFIX.$target" \
        --fallback-default-module-kind "Framework" \
        --output-path "$DOCS_DIR/$target.doccarchive" \
        --warnings-as-errors \
        --diagnostic-filter warning \
        >"$DOCS_DIR/$target.log" 2>&1
}

# docc spends much of its time writing files: a few conversions at once.
pids=()
for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$DOCS_JOBS" ]; do
        sleep 0.1
    done
    convert "$target" &
    pids+=($!)
done
failed=()
for i in "${!targets[@]}"; do
    target=${targets[$i]}
    if wait "${pids[$i]}"; then
        echo "docs: $target -> $shown_dir/$target.doccarchive"
    else
        cat "$DOCS_DIR/$target.log" >&2
        echo "docs: $target FAILED (above)" >&2
        failed+=("$target")
    fi
done

echo "docs: symbol graphs $((built - start)) s, docc $((SECONDS - built)) s"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "docs: DocC warnings or errors in: ${failed[*]}" >&2
    exit 1
fi
echo "docs: ${#targets[@]} archives in $shown_dir/"
