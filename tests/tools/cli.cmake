# Tests of the kiln CLI commands quantize/eval/analyze/bench. Owner: CLI.
