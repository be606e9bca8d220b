"""`edgeagent detect`: what this machine has (probe), the llama.cpp build (llama_build), and what it should run (detect)."""
