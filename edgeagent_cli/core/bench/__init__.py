"""`edgeagent bench`: throughput as llama-bench measures it, chat latency, peak memory, endpoint load, results."""
