"""`python -m generator.emulator`: the emulator as a process of its own."""

from .command import main

main()
