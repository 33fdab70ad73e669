"""Beyond one machine's store: chain heads anchored outside it (git refs, MLflow runs), and
sessions pushed to and pulled from an MLflow tracking server.

Below the recorder in the import layers, which calls ``hook`` after each batch it saved.
MLflow itself is imported only by ``mlflow_run``, which the CLI and the sink's own process
load; nothing here is on the extension's load path but ``hook``, ``anchors`` and ``sink``,
which import the standard library alone.
"""
