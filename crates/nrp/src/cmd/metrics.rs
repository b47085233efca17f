//! `nrp run --metrics FILE`: the training curve as data, one row per epoch of every `?fit`
//! (fit number, epoch, loss, training-step milliseconds, every zero-ary metric evaluated
//! after that epoch), as CSV or, for a `.jsonl`/`.json` file, JSON lines. Written when the
//! run ends — also after an error or Ctrl-C, with the epochs that ran.

use nrp_engine::train::{Epoch, FitReport};
use nrp_params::json::Value as Json;
use std::path::PathBuf;

/// One epoch's row.
struct Row {
    fit: usize,
    epoch: usize,
    loss: f64,
    step_ms: Option<f64>,
    metrics: Vec<(String, f64)>,
}

pub struct MetricsLog {
    path: PathBuf,
    shown: String,
    jsonl: bool,
    rows: Vec<Row>,
    /// Rows of the fit in progress start here.
    fit_start: usize,
}

impl MetricsLog {
    /// Checks that `path` can be written (its folder exists; it is not a folder) before
    /// anything runs.
    pub fn new(path: &str) -> Result<MetricsLog, String> {
        let p = PathBuf::from(path);
        if p.is_dir() {
            return Err(format!("--metrics {path}: is a directory"));
        }
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
        if parent.is_some_and(|d| !d.is_dir()) {
            return Err(format!("--metrics {path}: its folder does not exist"));
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        Ok(MetricsLog {
            jsonl: matches!(ext, "jsonl" | "json" | "ndjson"),
            path: p,
            shown: path.to_string(),
            rows: vec![],
            fit_start: 0,
        })
    }

    /// A `?fit` (numbered from 1) starts.
    pub fn start_fit(&mut self) {
        self.fit_start = self.rows.len();
    }

    pub fn epoch(&mut self, fit: usize, e: &Epoch) {
        self.rows.push(Row {
            fit,
            epoch: e.epoch,
            loss: e.loss,
            step_ms: None,
            metrics: e.metrics.map(<[_]>::to_vec).unwrap_or_default(),
        });
    }

    /// The fit ended: its step times are known.
    pub fn end_fit(&mut self, report: &FitReport) {
        for (row, &ms) in self.rows[self.fit_start..].iter_mut().zip(&report.step_ms) {
            row.step_ms = Some(ms);
        }
    }

    /// Writes the file (through a temporary file beside it, renamed into place).
    pub fn write(&self) -> Result<(), String> {
        let text = if self.jsonl { self.jsonl() } else { self.csv() };
        let tmp = self.path.with_extension("metrics-tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot write --metrics {}: {e}", self.shown)
            })
    }

    /// Metric names in order of first appearance.
    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = vec![];
        for r in &self.rows {
            for (n, _) in &r.metrics {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
        }
        names
    }

    fn csv(&self) -> String {
        let names = self.names();
        let mut out = String::from("fit,epoch,loss,step_ms");
        for n in &names {
            out.push(',');
            out.push_str(n);
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&format!("{},{},{}", r.fit, r.epoch, r.loss));
            out.push(',');
            if let Some(ms) = r.step_ms {
                out.push_str(&format!("{ms:.3}"));
            }
            for n in &names {
                out.push(',');
                if let Some((_, v)) = r.metrics.iter().find(|(m, _)| m == n) {
                    out.push_str(&v.to_string());
                }
            }
            out.push('\n');
        }
        out
    }

    fn jsonl(&self) -> String {
        let mut out = String::new();
        for r in &self.rows {
            let mut obj = vec![
                ("fit".to_string(), Json::Number(r.fit as f64)),
                ("epoch".to_string(), Json::Number(r.epoch as f64)),
                ("loss".to_string(), Json::Number(r.loss)),
            ];
            if let Some(ms) = r.step_ms {
                obj.push(("step_ms".to_string(), Json::Number(ms)));
            }
            obj.push((
                "metrics".to_string(),
                Json::Object(
                    r.metrics
                        .iter()
                        .map(|(n, v)| (n.clone(), Json::Number(*v)))
                        .collect(),
                ),
            ));
            out.push_str(&Json::Object(obj).to_string());
            out.push('\n');
        }
        out
    }
}
