#!/usr/bin/env bash
# Done when the chosen framework's notebook folder exists.
[ -d "$HOME/d2l-en/${D2L_FRAMEWORK:-pytorch}" ]
