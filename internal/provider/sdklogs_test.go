package provider

import (
	"os"
	"testing"
)

// unsetLogVariables clears every TF_LOG* variable for the test and restores them after.
func unsetLogVariables(t *testing.T) {
	t.Helper()
	for _, v := range sdkLogVariables {
		t.Setenv(v, "")
		_ = os.Unsetenv(v)
	}
}

func TestQuietSDKLogsWhenNoLogsAreAskedFor(t *testing.T) {
	unsetLogVariables(t)
	if !QuietSDKLogs() {
		t.Fatal("QuietSDKLogs changed nothing though no TF_LOG variable was set")
	}
	for v, want := range quietLevels {
		if got := os.Getenv(v); got != want {
			t.Errorf("%s = %q, want %q", v, got, want)
		}
	}
}

func TestQuietSDKLogsLeavesAskedForLogsAlone(t *testing.T) {
	for _, asked := range []string{"TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_SDK_FRAMEWORK", "TF_ACC_LOG_PATH"} {
		t.Run(asked, func(t *testing.T) {
			unsetLogVariables(t)
			t.Setenv(asked, "TRACE")
			if QuietSDKLogs() {
				t.Fatalf("QuietSDKLogs changed the log levels though %s was set", asked)
			}
			for v := range quietLevels {
				if v == asked {
					continue
				}
				if got, ok := os.LookupEnv(v); ok {
					t.Errorf("%s = %q was set; it must stay unset when %s asks for logs", v, got, asked)
				}
			}
		})
	}
}
