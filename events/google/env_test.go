package google_test

import "os"

func envBig() bool { return os.Getenv("GOOGLE_BIG") == "1" }
