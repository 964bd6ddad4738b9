"""The quarterly run: papermill execution, report HTML, manifest, index, publish."""
