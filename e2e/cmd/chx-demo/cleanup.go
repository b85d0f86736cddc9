package main

import "github.com/crosshair-otel/crosshair/e2e/lab"

func cleanup() error { return lab.Cleanup() }

func setup() error { return lab.Setup() }
