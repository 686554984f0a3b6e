package qualysbridge_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/qualysbridge/qualysbridge/car"
	"github.com/qualysbridge/qualysbridge/carsync"
	"github.com/qualysbridge/qualysbridge/qbrecord"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/threatq"
)

// TestSentinelsAreDistinct: every package's sentinel errors are values of
// their own, so errors.Is tells a CAR idle timeout from a ThreatQ one
// (they were one shared value).
func TestSentinelsAreDistinct(t *testing.T) {
	t.Parallel()
	sentinels := map[string]error{
		"qualys.ErrBaseURL": qualys.ErrBaseURL, "qualys.ErrRateLimited": qualys.ErrRateLimited, "qualys.ErrUnauthorized": qualys.ErrUnauthorized,
		"qualys.ErrNotFound": qualys.ErrNotFound, "qualys.ErrUnexpectedBody": qualys.ErrUnexpectedBody, "qualys.ErrUnreachable": qualys.ErrUnreachable,
		"qualys.ErrRecordTooLarge": qualys.ErrRecordTooLarge, "qualys.ErrIdleTimeout": qualys.ErrIdleTimeout, "qualys.ErrVersionUnsupported": qualys.ErrVersionUnsupported,
		"car.ErrJobDeadline": car.ErrJobDeadline, "car.ErrUnauthorized": car.ErrUnauthorized, "car.ErrNotFound": car.ErrNotFound,
		"car.ErrRateLimited": car.ErrRateLimited, "car.ErrIdleTimeout": car.ErrIdleTimeout, "car.ErrModelStateReset": car.ErrModelStateReset,
		"threatq.ErrUnauthorized": threatq.ErrUnauthorized, "threatq.ErrNotFound": threatq.ErrNotFound, "threatq.ErrRateLimited": threatq.ErrRateLimited,
		"threatq.ErrIdleTimeout": threatq.ErrIdleTimeout, "threatq.ErrPageRepeated": threatq.ErrPageRepeated,
		"carsync.ErrIncrementalNotPossible": carsync.ErrIncrementalNotPossible, "carsync.ErrUnusableState": carsync.ErrUnusableState,
		"qbrecord.ErrCassette": qbrecord.ErrCassette,
	}
	for a, ea := range sentinels {
		wrapped := fmt.Errorf("call: %w", ea)
		for b, eb := range sentinels {
			if a != b && errors.Is(wrapped, eb) {
				t.Errorf("an error wrapping %s matches %s", a, b)
			}
		}
	}
}
