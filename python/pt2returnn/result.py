"""The object pt2returnn.convert returns: the network as Python data, the config texts, the
checkpoint files, the report as data, and the model as one layer for a network of your own."""
import json
import os
import shutil
import tempfile
import weakref


CHECKPOINT_PREFIX = "model.001"
_CHECKPOINT_SUFFIXES = (".index", ".data-00000-of-00001")


def _write_atomically(directory, files):
    """{name: bytes or str} into `directory`: every file to a temporary name first, renamed only
    when all are written, so a failure never leaves half a checkpoint."""
    os.makedirs(directory, exist_ok=True)
    temporary = []
    try:
        for name, content in files.items():
            path = os.path.join(directory, f".{name}.tmp-{os.getpid()}")
            with open(path, "wb") as f:
                f.write(content.encode() if isinstance(content, str) else content)
            temporary.append((path, os.path.join(directory, name)))
    except BaseException:
        for path, _ in temporary:
            os.remove(path)
        raise
    for path, final in temporary:
        os.replace(path, final)


class Conversion:
    """The result of pt2returnn.convert.

    net_dict, extern_data   the network and its input as Python dicts (from the JSON config)
    config_py, config_json  the RETURNN configs' texts (returnn.config.py is the one to use for
                            models whose dims JSON cannot declare alike: see README)
    out_dir, checkpoint     where the files are; `checkpoint` is the TF checkpoint's path prefix
                            (out_dir/model.001), as RETURNN's load_params_from_file and
                            preload_from_files take it
    report                  report.json as data: "steps" (each with what it compared, max_abs,
                            max_rel, passed) and "layers" (one row per RETURNN layer)
    report_text             the readable report
    passed, failed_step     every check passed / the first that failed
    """

    def __init__(self, core, *, out_dir, as_layer, rerun):
        self._core = core
        self._rerun = rerun
        self._layers = {}
        self.as_layer = as_layer
        if out_dir is None:
            out_dir = tempfile.mkdtemp(prefix="pt2returnn-")
            # The temporary directory lives as long as this object.
            self._cleanup = weakref.finalize(self, shutil.rmtree, out_dir, True)
        self.out_dir = os.path.abspath(os.fspath(out_dir))
        self._refresh()

    def _refresh(self):
        outputs = self._core.outputs()
        self._outputs = outputs
        self.config_py = outputs["config_py"]
        self.config_json = outputs["config_json"]
        config = json.loads(self.config_json)
        self.net_dict = config["network"]
        self.extern_data = config["extern_data"]
        self.report = json.loads(outputs["report_json"])
        self.report_text = outputs["report_text"]
        self.failed_step = outputs["failed_step"]
        self.passed = self.failed_step is None

    @property
    def checkpoint_keys(self):
        """How a checkpoint matched the model (report.json's "checkpoint_keys"); None without one."""
        return self.report.get("checkpoint_keys")

    @property
    def checkpoint(self):
        return os.path.join(self.out_dir, CHECKPOINT_PREFIX)

    @property
    def checkpoint_files(self):
        return [self.checkpoint + suffix for suffix in _CHECKPOINT_SUFFIXES]

    def add_step(self, name, what, seconds, compared, passed, max_abs=0.0, max_rel=0.0, worst_ratio=0.0):
        """A step run outside the core (real RETURNN) joins the report."""
        self._core.add_step(name, what, seconds, compared, passed, max_abs, max_rel, worst_ratio)
        self._refresh()

    def write_files(self):
        """The CLI's files, under the CLI's names, in out_dir."""
        o = self._outputs
        files = {CHECKPOINT_PREFIX + ".data-00000-of-00001": o["checkpoint_data"],
                 CHECKPOINT_PREFIX + ".index": o["checkpoint_index"],
                 "returnn.config.json": o["config_json"], "returnn.config.py": o["config_py"],
                 "report.json": o["report_json"], "report.txt": o["report_text"]}
        if self.as_layer:
            files[f"{self.as_layer}.layer.json"] = o["layer_json"]
            files[f"{self.as_layer}.layer.py"] = o["layer_py"]
        _write_atomically(self.out_dir, files)

    def _layer(self, name):
        """(layer dict outputs, checkpoint prefix) of the model as one layer `name`."""
        if name == self.as_layer:
            return self._outputs, self.checkpoint
        if name not in self._layers:
            outputs = self._rerun(name).outputs()  # raises pt2returnn's exceptions
            directory = os.path.join(self.out_dir, f"as_layer.{name}")
            _write_atomically(directory, {
                CHECKPOINT_PREFIX + ".data-00000-of-00001": outputs["checkpoint_data"],
                CHECKPOINT_PREFIX + ".index": outputs["checkpoint_index"],
                f"{name}.layer.json": outputs["layer_json"], f"{name}.layer.py": outputs["layer_py"]})
            self._layers[name] = (outputs, os.path.join(directory, CHECKPOINT_PREFIX))
        return self._layers[name]

    def as_layer_dict(self, name):
        """The model as one `subnetwork` layer dict named `name`, to put into a network of your own
        (set its "from"; inside, "data" is what "from" names). Its variables are
        `name/<layer>/<param>` in the checkpoint at as_layer_checkpoint(name), to load with
        preload_from_files = {name: {"filename": ..., "ignore_missing": True}}.
        The dict comes from the Python form of the layer (it may hold Dim tags), so RETURNN must
        be importable."""
        outputs, _ = self._layer(name)
        text = outputs["layer_py"]
        from returnn.tensor import Dim, batch_dim  # the names the layer's Python form uses
        return eval(text, {"__builtins__": {}, "Dim": Dim, "batch_dim": batch_dim})  # our own emitted literal

    def as_layer_checkpoint(self, name):
        """The checkpoint path prefix whose variables sit under `name` (see as_layer_dict)."""
        return self._layer(name)[1]

    def __repr__(self):
        return (f"<pt2returnn.Conversion {len(self.net_dict)} top-level layers, "
                f"{'passed' if self.passed else 'FAILED at ' + str(self.failed_step)}, in {self.out_dir}>")
