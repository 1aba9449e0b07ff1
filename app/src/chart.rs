//! Charts rendered with plotters' SVG backend on the server, so they show before any script runs.
//! The legend is HTML beside the SVG: readable at any width, and available to screen readers.

use serde::{Deserialize, Serialize};

/// A chart as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedChart {
    pub svg: String,
    pub legend: Vec<LegendEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegendEntry {
    pub label: String,
    /// A CSS colour, the same as the series' bars.
    pub color: String,
}

#[cfg(feature = "ssr")]
pub use render::daily_usage_chart;

#[cfg(feature = "ssr")]
mod render {
    use meterbook_core::overview::Overview;
    use plotters::prelude::*;

    use super::{LegendEntry, RenderedChart};
    use crate::format::amount;

    const WIDTH: u32 = 960;
    const HEIGHT: u32 = 380;

    /// Stacked daily columns of the overview's chart meter, one colour per subscription. `None` when
    /// there is nothing to draw.
    pub fn daily_usage_chart(overview: &Overview) -> Option<RenderedChart> {
        let meter = overview.chart_meter.as_ref()?;
        if overview.series.is_empty() || overview.days.is_empty() {
            return None;
        }
        let days = overview.days.len();
        let totals: Vec<f64> = (0..days)
            .map(|i| overview.series.iter().map(|s| s.values[i]).sum())
            .collect();
        let top = totals.iter().copied().fold(0.0_f64, f64::max).max(1e-9) * 1.1;
        let mut svg = String::new();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(72)
                .build_cartesian_2d(0f64..days as f64, 0f64..top)?;
            let labels = &overview.days;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(days.min(10))
                .x_label_formatter(&|x| {
                    labels
                        .get(x.floor() as usize)
                        .map(|d| d.format("%b %d").to_string())
                        .unwrap_or_default()
                })
                .y_label_formatter(&|y| amount(*y))
                .y_desc(meter.unit.as_str())
                .draw()?;
            let mut base = vec![0.0; days];
            for (k, series) in overview.series.iter().enumerate() {
                let color = series_color(k);
                let bars: Vec<Rectangle<(f64, f64)>> = series
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(i, v)| {
                        Rectangle::new(
                            [(i as f64 + 0.12, base[i]), (i as f64 + 0.88, base[i] + v)],
                            color.filled(),
                        )
                    })
                    .collect();
                for (i, v) in series.values.iter().enumerate() {
                    base[i] += v;
                }
                chart.draw_series(bars)?;
            }
            root.present()?;
            Ok(())
        })();
        drawn.ok()?;
        let legend = overview
            .series
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let RGBColor(r, g, b) = series_color(k);
                LegendEntry {
                    label: s.subscription_id.clone(),
                    color: format!("#{r:02x}{g:02x}{b:02x}"),
                }
            })
            .collect();
        Some(RenderedChart { svg, legend })
    }

    fn series_color(k: usize) -> RGBColor {
        let (r, g, b) = Palette99::pick(k).rgb();
        RGBColor(r, g, b)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::format::short_id;
        use chrono::{NaiveDate, TimeZone, Utc};
        use meterbook_core::overview::DailyMeterTotal;

        #[test]
        fn the_chart_is_an_svg_with_one_legend_entry_per_subscription() {
            let rows: Vec<DailyMeterTotal> = [
                "aaaaaaaa-0000-0000-0000-000000000000",
                "bbbbbbbb-0000-0000-0000-000000000000",
            ]
            .iter()
            .flat_map(|sub| {
                (1..=3).map(move |d| DailyMeterTotal {
                    subscription_id: sub.to_string(),
                    meter_id: meterbook_core::overview::DEFAULT_CHART_METER.into(),
                    day: NaiveDate::from_ymd_opt(2026, 10, d).unwrap(),
                    quantity: 24.0,
                    records: 24,
                })
            })
            .collect();
            let overview = Overview::build(
                &rows,
                Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 10, 4, 0, 0, 0).unwrap(),
                None,
            );
            let chart = daily_usage_chart(&overview).unwrap();
            assert!(chart.svg.starts_with("<svg"));
            assert!(chart.svg.contains("VM hours"));
            assert!(chart.svg.matches("<rect").count() >= 6);
            let labels: Vec<&str> = chart.legend.iter().map(|l| short_id(&l.label)).collect();
            assert_eq!(labels, vec!["aaaaaaaa", "bbbbbbbb"]);
            assert_ne!(chart.legend[0].color, chart.legend[1].color);
            assert!(chart.legend[0].color.starts_with('#') && chart.legend[0].color.len() == 7);
        }

        #[test]
        fn nothing_is_drawn_without_data() {
            let t = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
            assert!(daily_usage_chart(&Overview::build(&[], t, t, None)).is_none());
        }
    }
}
