"""`edgeagent detect`: what this machine has (probe), the llama.cpp build (llama_build), the facts
settings depend on (machine), and what this machine should run (detect)."""
