"""The layers of `amlgen validate`, one module each; `generator.validate` is the entry point.

findings (the result type), assets (reading + layer 1 YAML hygiene), sdk (layer 2), component
(layers 3-4), rules (layer 5), cross (layer 6), online (layer 7).
"""
