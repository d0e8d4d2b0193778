package media

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a Session leaves a goroutine
// behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
