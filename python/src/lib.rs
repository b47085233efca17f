//! `nrp._nrp`: the Python binding of `nrp_session::Session`. The friendly API (pandas and
//! NumPy in and out) is `python/nrp/__init__.py`; this module moves columns as raw bytes
//! (little-endian int64, float64 and float32 buffers), which needs nothing beyond the
//! stable ABI, and NumPy reads and writes without a copy per cell.
//!
//! Every error is an `nrp.NrpError` whose message is the rendered diagnostic
//! (`<run 2>:1:12: error: …` with the source line and a caret). Training runs without the
//! GIL; between epochs the binding takes it to check for signals, so Ctrl-C stops the fit
//! after the current epoch (its weights are kept) and raises `KeyboardInterrupt`.

use nrp_data::{Column, Table, Value};
use nrp_params::{ParamMap, ParamTensor};
use nrp_session::{Epoch, Error, Flow, Options, Session};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};
use std::panic::{AssertUnwindSafe, catch_unwind};

create_exception!(
    _nrp,
    NrpError,
    PyException,
    "An error in a program, its data or a call: the message is nrp's rendered diagnostic."
);

fn err(e: Error) -> PyErr {
    NrpError::new_err(e.text.trim_end().to_string())
}

fn msg(m: impl Into<String>) -> PyErr {
    NrpError::new_err(m.into())
}

/// Runs `f`, turning a panic into an `NrpError`: a refused allocation is the user error it
/// is, anything else a bug, but never an abort of the interpreter.
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panic_error(p)))
}

/// A caught panic as an `NrpError`.
fn panic_error(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    if let Some(oom) = payload.downcast_ref::<nrp_tensor::OutOfMemory>() {
        return msg(
            nrp_session::budget::out_of_memory(oom.bytes, "`memory_limit`")
                .trim_end()
                .to_string(),
        );
    }
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    msg(format!(
        "internal error: {text} (this is a bug in nrp; please report it)"
    ))
}

/// Little-endian bytes of fixed-size numbers.
fn numbers<const N: usize, T>(bytes: &[u8], what: &str, f: fn([u8; N]) -> T) -> PyResult<Vec<T>> {
    if !bytes.len().is_multiple_of(N) {
        return Err(msg(format!(
            "{what}: {} bytes is not a whole number of values",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunk of N")))
        .collect())
}

/// A Python cell of an object column as a content value.
fn cell(v: &Bound<'_, PyAny>, table: &str, column: &str, row: usize) -> PyResult<Value> {
    let bad = |what: &str| {
        msg(format!(
            "table `{table}`, column `{column}`, row {}: {what} cannot be a content value (numbers and strings can)",
            row + 1
        ))
    };
    if v.is_instance_of::<PyString>() {
        return Ok(Value::parse(&v.extract::<String>()?));
    }
    if v.is_instance_of::<PyInt>() {
        return v
            .extract::<i64>()
            .map(Value::Int)
            .map_err(|_| bad("an integer outside the 64-bit range"));
    }
    if v.is_instance_of::<PyFloat>() {
        let x: f64 = v.extract()?;
        if !x.is_finite() {
            return Err(bad(&format!("{x} (a missing value?)")));
        }
        return Ok(Value::from_f64(x));
    }
    if v.is_none() {
        return Err(bad("None (a missing value)"));
    }
    Err(bad(&format!("a value of type {}", v.get_type().name()?)))
}

/// A table from `[(column name, kind, payload)]`: kind `i` (int64 bytes), `f` (float64
/// bytes) or `o` (a list of str, int or float).
fn table(name: &str, columns: Vec<(String, String, Bound<'_, PyAny>)>) -> PyResult<Table> {
    let mut names = vec![];
    let mut cells = vec![];
    for (col, kind, payload) in columns {
        let what = format!("table `{name}`, column `{col}`");
        let c = match kind.as_str() {
            "i" => Column::Int(numbers::<8, i64>(
                payload.downcast::<PyBytes>()?.as_bytes(),
                &what,
                i64::from_le_bytes,
            )?),
            "f" => {
                let xs = numbers::<8, f64>(
                    payload.downcast::<PyBytes>()?.as_bytes(),
                    &what,
                    f64::from_le_bytes,
                )?;
                if let Some(i) = xs.iter().position(|x| !x.is_finite()) {
                    return Err(msg(format!(
                        "{what}, row {}: {} cannot be a value (a missing value?)",
                        i + 1,
                        xs[i]
                    )));
                }
                Column::from_values(xs.into_iter().map(Value::from_f64))
            }
            "o" => {
                let list = payload.downcast::<PyList>()?;
                let mut values = Vec::with_capacity(list.len());
                for (i, v) in list.iter().enumerate() {
                    values.push(cell(&v, name, &col, i)?);
                }
                Column::from_values(values)
            }
            k => return Err(msg(format!("{what}: unknown column kind `{k}`"))),
        };
        names.push(col);
        cells.push(c);
    }
    Table::new(name, names, cells).map_err(|e| msg(e.message))
}

/// A column of content values for Python: `("i", int64 bytes)`, `("f", float64 bytes)` or
/// `("o", list)`.
fn content_column<'py, 'a>(
    py: Python<'py>,
    values: impl Iterator<Item = &'a Value> + Clone,
) -> PyResult<(String, Bound<'py, PyAny>)> {
    if values.clone().all(|v| matches!(v, Value::Int(_))) {
        let bytes: Vec<u8> = values
            .flat_map(|v| match v {
                Value::Int(i) => i.to_le_bytes(),
                _ => unreachable!("all integers"),
            })
            .collect();
        return Ok(("i".into(), PyBytes::new(py, &bytes).into_any()));
    }
    if values.clone().all(Value::is_number) {
        let bytes: Vec<u8> = values
            .flat_map(|v| v.as_f64().expect("a number").to_le_bytes())
            .collect();
        return Ok(("f".into(), PyBytes::new(py, &bytes).into_any()));
    }
    let list = PyList::empty(py);
    for v in values {
        match v {
            Value::Int(i) => list.append(i)?,
            Value::Float(x) => list.append(x)?,
            Value::Str(s) => list.append(&**s)?,
        }
    }
    Ok(("o".into(), list.into_any()))
}

/// A relation for Python: a dict with `name`, `arity`, `dim`, `columns` (one
/// [`content_column`] per content position), `embeddings` (float32 bytes, row-major) and
/// `counts` (int64 bytes of exact counts for a `count(...)` relation, else None).
fn relation<'py>(
    py: Python<'py>,
    name: &str,
    o: &nrp_engine::Output,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", name)?;
    d.set_item("arity", o.arity)?;
    d.set_item("dim", o.dim)?;
    d.set_item("rows", o.rows.len())?;
    let columns = PyList::empty(py);
    for c in 0..o.arity {
        let (kind, payload) = content_column(py, o.rows.iter().map(|r| &r[c]))?;
        columns.append((kind, payload))?;
    }
    d.set_item("columns", columns)?;
    let emb: Vec<u8> = o.embeddings.iter().flat_map(|x| x.to_le_bytes()).collect();
    d.set_item("embeddings", PyBytes::new(py, &emb))?;
    match &o.counts {
        Some(c) => {
            let b: Vec<u8> = c.iter().flat_map(|x| (*x as i64).to_le_bytes()).collect();
            d.set_item("counts", PyBytes::new(py, &b))?
        }
        None => d.set_item("counts", py.None())?,
    }
    Ok(d)
}

#[pyclass(name = "Session", module = "nrp._nrp")]
struct PySession {
    inner: Session,
}

#[pymethods]
impl PySession {
    /// `db`: a folder of CSV files or a SQLite file, or None for tables given one by one.
    #[new]
    #[pyo3(signature = (db, seed=0, threads=None, memory_limit=None, template_depth=None, disabled_rules=None, trace=false, profile=None, ground=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        db: Option<String>,
        seed: u64,
        threads: Option<usize>,
        memory_limit: Option<String>,
        template_depth: Option<usize>,
        disabled_rules: Option<String>,
        trace: bool,
        profile: Option<usize>,
        ground: Option<String>,
    ) -> PyResult<PySession> {
        guarded(|| {
            let budget = match &memory_limit {
                Some(text) => {
                    nrp_session::Budget::parse(text, &format!("`memory_limit=\"{text}\"`"))
                        .map_err(|e| msg(format!("memory_limit: {e}")))?
                }
                None => nrp_session::Budget::machine("`memory_limit=\"SIZE\"` sets another"),
            };
            if template_depth == Some(0) {
                return Err(msg("template_depth must be at least 1"));
            }
            let disabled_rules = match &disabled_rules {
                Some(spec) => nrp_engine::plan::rules::parse_disabled(spec)
                    .map_err(|e| msg(format!("disabled_rules: {e}")))?,
                None => vec![],
            };
            let ground = match &ground {
                Some(text) => nrp_engine::GroundMode::parse(text).ok_or_else(|| {
                    msg(format!(
                        "ground=\"{text}\": expected \"in-engine\" or \"sql\""
                    ))
                })?,
                None => nrp_engine::GroundMode::default(),
            };
            let options = Options {
                seed,
                threads,
                budget,
                template_depth,
                engine: nrp_engine::EngineOptions {
                    disabled_rules,
                    trace,
                    profile,
                    ground,
                    // Code tables come with `load` (a checkpoint) or from the data.
                    ..Default::default()
                },
            };
            let spelling = nrp_session::threads::Spelling {
                name: "threads",
                sep: "=",
            };
            let (cpu, warning) = nrp_session::threads::backend(threads, spelling).map_err(msg)?;
            if let Some(w) = warning {
                let warnings = py.import("warnings")?;
                warnings.call_method1("warn", (w.trim_start_matches("warning: "),))?;
            }
            let database = match db {
                Some(spec) => nrp_data::Database::open(&spec).map_err(|e| msg(e.message))?,
                None => nrp_data::Database::from_tables("given as DataFrames", vec![])
                    .map_err(|e| msg(e.message))?,
            };
            // As `--ground sql` (tables given as DataFrames later are joined by nrp, having
            // no rows in the database).
            options
                .check_ground(&database, "ground=\"sql\"")
                .map_err(msg)?;
            Ok(PySession {
                inner: Session::new(database, options, cpu),
            })
        })
    }

    /// Adds or replaces a table: `columns` is `[(name, kind, payload)]`.
    fn set_table(
        &mut self,
        name: String,
        columns: Vec<(String, String, Bound<'_, PyAny>)>,
    ) -> PyResult<()> {
        let t = table(&name, columns)?;
        self.inner.set_table(t);
        Ok(())
    }

    fn table_names(&self) -> Vec<String> {
        self.inner.database().table_names()
    }

    /// Runs a text; returns one relation dict per `?pred`, in order.
    #[pyo3(signature = (text, name=None))]
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        text: &str,
        name: Option<&str>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut signal: Option<PyErr> = None;
        let inner = &mut self.inner;
        let result = py.allow_threads(|| {
            catch_unwind(AssertUnwindSafe(|| {
                inner.run(text, name, &mut |_e: &Epoch| match Python::with_gil(|py| {
                    py.check_signals()
                }) {
                    Ok(()) => Flow::Continue,
                    Err(e) => {
                        signal = Some(e);
                        Flow::Stop
                    }
                })
            }))
        });
        let result = result.map_err(panic_error)?;
        match result {
            Ok(report) => {
                let out = PyList::empty(py);
                for (name, o) in &report.predictions {
                    out.append(relation(py, name, o)?)?;
                }
                Ok(out)
            }
            Err(e) if e.interrupted => Err(signal.unwrap_or_else(|| err(e))),
            Err(e) => Err(err(e)),
        }
    }

    /// A derived relation as the program and the current weights define it now.
    fn relation<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
        let inner = &self.inner;
        let o = py.allow_threads(|| guarded(|| inner.relation(name).map_err(err)))?;
        relation(py, name, &o)
    }

    /// `[(name, shape, float32 bytes)]`, sorted by name.
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (name, t) in self.inner.parameters() {
            let bytes: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
            out.append((name, t.shape.clone(), PyBytes::new(py, &bytes)))?;
        }
        Ok(out)
    }

    /// Sets parameters from `[(name, shape, float32 bytes)]`.
    fn set_parameters(
        &mut self,
        values: Vec<(String, Vec<usize>, Bound<'_, PyBytes>)>,
    ) -> PyResult<()> {
        let mut map = ParamMap::new();
        for (name, shape, bytes) in values {
            let data = numbers::<4, f32>(
                bytes.as_bytes(),
                &format!("parameter `{name}`"),
                f32::from_le_bytes,
            )?;
            map.insert(name, ParamTensor { shape, data });
        }
        self.inner.set_parameters(map).map_err(err)
    }

    fn save(&self, path: &str) -> PyResult<()> {
        self.inner.save(std::path::Path::new(path)).map_err(err)
    }

    fn load(&mut self, path: &str) -> PyResult<()> {
        self.inner.load(std::path::Path::new(path)).map_err(err)
    }

    /// `[(fit, loss name, epoch, loss, [(metric, value)], step ms)]`.
    #[allow(clippy::type_complexity)]
    fn history(&self) -> Vec<(usize, String, usize, f64, Vec<(String, f64)>, f64)> {
        self.inner
            .history()
            .iter()
            .map(|r| {
                (
                    r.fit,
                    r.loss_name.clone(),
                    r.epoch,
                    r.loss,
                    r.metrics.clone(),
                    r.step_ms,
                )
            })
            .collect()
    }

    fn explain(&self, py: Python<'_>) -> PyResult<String> {
        let inner = &self.inner;
        py.allow_threads(|| guarded(|| inner.explain().map_err(err)))
    }

    fn check(&self, py: Python<'_>) -> PyResult<String> {
        let inner = &self.inner;
        py.allow_threads(|| guarded(|| inner.check().map_err(err)))
    }
}

#[pymodule]
fn _nrp(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NrpError", m.py().get_type::<NrpError>())?;
    m.add_class::<PySession>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
