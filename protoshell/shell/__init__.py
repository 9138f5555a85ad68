"""The interactive shell (the only package that imports prompt_toolkit).

``app.run_shell(target, args, env, banner=...)`` is the entry point; ``app``
wires prompt_toolkit to ``runtime.Shell``; the logic lives in small modules:
``completer`` (pure ``suggest``), ``lexer``, ``keys``, ``meta`` (the
``:command`` registry), ``input_modes``, ``describe`` (:help/:explain/:last),
``facts``, ``history`` and ``toolbar``.  Nothing is imported here, so
``protoshell --version`` stays fast.
"""
