// Nixery's layer compression, for bench/compare.sh: standard input to
// standard output through Go's compress/gzip at its default level, as
// Nixery's layer writer does. Only the standard library: it builds offline.
package main

import (
	"compress/gzip"
	"io"
	"os"
)

func main() {
	w := gzip.NewWriter(os.Stdout)
	if _, err := io.Copy(w, os.Stdin); err != nil {
		os.Exit(1)
	}
	if err := w.Close(); err != nil {
		os.Exit(1)
	}
}
