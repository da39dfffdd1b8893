#!/usr/bin/env bash
# Done when nvidia-smi talks to the driver (a Deep Learning AMI has it: the step is skipped there).
nvidia-smi -L
