"""The `type: finetuning` path: one fine-tuning job on managed compute or serverless.

`spec` holds the rules (methods, tasks, hyper-parameters per compute kind, serverless regions,
which models support which path) and the params section; `render` turns resolved params into
the job file and the serverless endpoint file. The pipeline path stays in generator.rendering.
"""
