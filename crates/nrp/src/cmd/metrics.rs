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

type Chart<'a, 'b> = plotters::chart::ChartContext<
    'a,
    plotters::backend::SVGBackend<'b>,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// The plotted range of `vs` (finite values, 5 % of margin; a unit range around a constant).
fn value_range(vs: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vs
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    }
}

/// One panel: `caption` over epochs `1..=n`, values `lo..hi`, its axes drawn.
fn panel<'a, 'b>(
    area: &'a plotters::drawing::DrawingArea<
        plotters::backend::SVGBackend<'b>,
        plotters::coord::Shift,
    >,
    caption: &str,
    n: f64,
    (lo, hi): (f64, f64),
) -> Result<Chart<'a, 'b>, String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    let mut chart = plotters::chart::ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(1.0..n, lo..hi)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("epoch (all fits in order)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(|e| fail(&e))?;
    Ok(chart)
}

/// `nrp run --plot FILE.svg`: the loss (top) and the metrics (bottom) over the epochs of
/// every fit, one after the other.
pub fn plot(log: &MetricsLog, path: &str) -> Result<(), String> {
    use plotters::prelude::*;
    let fail = |e: &dyn std::fmt::Display| format!("cannot write --plot {path}: {e}");
    let xs: Vec<f64> = (1..=log.rows.len()).map(|i| i as f64).collect();
    let n = xs.len().max(2) as f64;
    let root = SVGBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (top, bottom) = root.split_vertically(300);
    // The loss, with a vertical rule where each later fit starts.
    let (lo, hi) = value_range(log.rows.iter().map(|r| r.loss));
    let mut chart = panel(&top, "loss", n, (lo, hi)).map_err(|e| fail(&e))?;
    chart
        .draw_series(LineSeries::new(
            xs.iter().zip(&log.rows).map(|(&x, r)| (x, r.loss)),
            &BLUE,
        ))
        .map_err(|e| fail(&e))?;
    for (i, w) in log.rows.windows(2).enumerate() {
        if w[1].fit != w[0].fit {
            let x = i as f64 + 1.5;
            chart
                .draw_series(LineSeries::new([(x, lo), (x, hi)], &BLACK.mix(0.3)))
                .map_err(|e| fail(&e))?;
        }
    }
    // Each metric where it was evaluated.
    let names = log.names();
    let range = value_range(
        log.rows
            .iter()
            .flat_map(|r| r.metrics.iter().map(|(_, v)| *v)),
    );
    let mut chart = panel(&bottom, "metrics", n, range).map_err(|e| fail(&e))?;
    for (k, name) in names.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let points: Vec<(f64, f64)> = xs
            .iter()
            .zip(&log.rows)
            .filter_map(|(&x, r)| {
                r.metrics
                    .iter()
                    .find(|(m, _)| m == name)
                    .map(|(_, v)| (x, *v))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, color))
            .map_err(|e| fail(&e))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    if !names.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}
