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
pub use render::{daily_usage_chart, explorer_chart, stacked_columns};

#[cfg(feature = "ssr")]
mod render {
    use meterbook_core::explore::{ChartData, Step};
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
        let labels: Vec<String> = overview
            .days
            .iter()
            .map(|d| d.format("%b %d").to_string())
            .collect();
        let names: Vec<String> = overview
            .series
            .iter()
            .map(|s| overview.name_of(&s.subscription_id))
            .collect();
        let series: Vec<(&str, &[f64])> = names
            .iter()
            .zip(&overview.series)
            .map(|(name, s)| (name.as_str(), s.values.as_slice()))
            .collect();
        stacked_columns(&labels, &series, &meter.unit)
    }

    /// The explorer's chart: its unit's quantities stacked by group per column of time.
    pub fn explorer_chart(data: &ChartData) -> Option<RenderedChart> {
        let format = match data.step {
            Step::Hourly => "%b %d %H:00",
            Step::Daily => "%b %d",
            Step::Monthly => "%b %Y",
        };
        let labels: Vec<String> = data
            .columns
            .iter()
            .map(|c| c.format(format).to_string())
            .collect();
        let series: Vec<(&str, &[f64])> = data
            .series
            .iter()
            .map(|s| (s.name.as_str(), s.values.as_slice()))
            .collect();
        stacked_columns(&labels, &series, &data.unit)
    }

    /// Stacked columns, one per label, with one colour per series (its values one per column) and
    /// the unit on the value axis. `None` when there is nothing to draw.
    pub fn stacked_columns(
        labels: &[String],
        series: &[(&str, &[f64])],
        unit: &str,
    ) -> Option<RenderedChart> {
        let columns = labels.len();
        if series.is_empty() || columns == 0 {
            return None;
        }
        let totals: Vec<f64> = (0..columns)
            .map(|i| series.iter().filter_map(|s| s.1.get(i)).sum())
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
                .build_cartesian_2d(0f64..columns as f64, 0f64..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(columns.min(8))
                .x_label_formatter(&|x| labels.get(x.floor() as usize).cloned().unwrap_or_default())
                .y_label_formatter(&|y| amount(*y))
                .y_desc(unit)
                .draw()?;
            let mut base = vec![0.0; columns];
            for (k, (_, values)) in series.iter().enumerate() {
                let color = series_color(k);
                let bars: Vec<Rectangle<(f64, f64)>> = values
                    .iter()
                    .enumerate()
                    .filter(|(i, v)| **v > 0.0 && *i < columns)
                    .map(|(i, v)| {
                        Rectangle::new(
                            [(i as f64 + 0.12, base[i]), (i as f64 + 0.88, base[i] + v)],
                            color.filled(),
                        )
                    })
                    .collect();
                for (i, v) in values.iter().enumerate().take(columns) {
                    base[i] += v;
                }
                chart.draw_series(bars)?;
            }
            root.present()?;
            Ok(())
        })();
        drawn.ok()?;
        let legend = series
            .iter()
            .enumerate()
            .map(|(k, (label, _))| {
                let RGBColor(r, g, b) = series_color(k);
                LegendEntry {
                    label: (*label).to_owned(),
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
            let mut overview = Overview::build(
                &rows,
                &[],
                Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 10, 4, 0, 0, 0).unwrap(),
                None,
            );
            overview.names.insert(
                "aaaaaaaa-0000-0000-0000-000000000000".to_owned(),
                "Contoso Ltd".to_owned(),
            );
            let chart = daily_usage_chart(&overview).unwrap();
            assert!(chart.svg.starts_with("<svg"));
            assert!(chart.svg.contains("VM hours"));
            assert!(chart.svg.matches("<rect").count() >= 6);
            let labels: Vec<&str> = chart.legend.iter().map(|l| l.label.as_str()).collect();
            assert_eq!(
                labels,
                vec![
                    "Contoso Ltd",
                    "Unknown subscription bbbbbbbb-0000-0000-0000-000000000000"
                ]
            );
            assert_ne!(chart.legend[0].color, chart.legend[1].color);
            assert!(chart.legend[0].color.starts_with('#') && chart.legend[0].color.len() == 7);
        }

        #[test]
        fn nothing_is_drawn_without_data() {
            let t = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
            assert!(daily_usage_chart(&Overview::build(&[], &[], t, t, None)).is_none());
        }
    }
}
