// The watchdog's first demo: every request body is stashed in a file named
// by the time it arrived, in nanoseconds, in the working directory.
package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	body, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "reading the request: %v\n", err)
		os.Exit(1)
	}
	name := fmt.Sprintf("%d.txt", time.Now().UnixNano())
	if err := os.WriteFile(name, body, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "stashing the request: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("Stashed %d bytes in %s\n", len(body), name)
}
