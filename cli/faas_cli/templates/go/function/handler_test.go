package main

import "testing"

func TestHandleEchoes(t *testing.T) {
	if got := string(Handle([]byte("hello"))); got != "hello" {
		t.Fatalf("Handle(hello) = %q", got)
	}
}
