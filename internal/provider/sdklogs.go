package provider

import "os"

// sdkLogVariables are the environment variables that ask for Terraform or SDK logs. When one
// is set, the user wants logs and QuietSDKLogs changes nothing.
var sdkLogVariables = []string{
	"TF_LOG", "TF_LOG_PATH", "TF_LOG_PROVIDER", "TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK",
	"TF_ACC_LOG_PATH", "TF_LOG_PATH_MASK",
}

// quietLevels are the SDK loggers QuietSDKLogs turns down, and to what.
var quietLevels = map[string]string{
	"TF_LOG_SDK":           "WARN",
	"TF_LOG_SDK_PROTO":     "WARN",
	"TF_LOG_SDK_FRAMEWORK": "WARN",
}

// QuietSDKLogs keeps terraform-plugin-go and terraform-plugin-framework from formatting
// their debug and trace logs when nobody asked for logs. Without a level in the provider's
// environment they format every one (hundreds per resource) and send it to Terraform, which
// throws them away: in scripts/bench-tofu.sh that was a fifth of the provider's CPU time
// (terraform-plugin-framework issue 1269). When any TF_LOG* variable is set it does nothing,
// so `TF_LOG=trace` still shows everything. It returns whether it changed anything.
func QuietSDKLogs() bool {
	for _, v := range sdkLogVariables {
		if _, ok := os.LookupEnv(v); ok {
			return false
		}
	}
	for v, level := range quietLevels {
		_ = os.Setenv(v, level)
	}
	return true
}
