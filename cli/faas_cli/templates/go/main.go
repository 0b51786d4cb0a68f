// The fork-mode entry point, compiled beside the handler: the body on stdin,
// Handle's result on stdout.
package main

import (
	"io"
	"os"
)

func main() {
	req, err := io.ReadAll(os.Stdin)
	if err != nil {
		os.Stderr.WriteString("reading the request: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.Write(Handle(req))
}
