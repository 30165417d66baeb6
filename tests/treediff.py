#!/usr/bin/env python3
"""treediff A B: every difference between two trees, entry by entry.

Names are compared as bytes; for each entry its type, its permission bits,
a symbolic link's target and a file's contents. Hard links count as the
files they are (a NAR, and so the store, holds them as such). Prints one
line per difference, then "N differences"; exits 1 when there are any."""
import hashlib
import os
import stat
import sys


def describe(path):
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    mode = oct(stat.S_IMODE(st.st_mode))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", mode)
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return ("file", mode, st.st_size, digest.hexdigest())
    return ("other", mode)


def tree(root):
    root = os.fsencode(root)
    entries = {b".": describe(root)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            entries[os.path.relpath(path, root)] = describe(path)
    return entries


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: treediff A B")
    a, b = tree(sys.argv[1]), tree(sys.argv[2])
    differences = 0
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            differences += 1
            print("%r: %r != %r" % (name, a.get(name), b.get(name)))
    print("%d differences in %d entries" % (differences, len(a)))
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
