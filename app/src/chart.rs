//! Charts rendered with plotters' SVG backend on the server, so they show before any script runs.

use meterbook_core::overview::Overview;
use plotters::prelude::*;

use crate::format::{amount, short_id};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 380;

/// Stacked daily columns of the overview's chart meter, one colour per subscription. `None` when
/// there is nothing to draw.
pub fn daily_usage_svg(overview: &Overview) -> Option<String> {
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
            let color = Palette99::pick(k).to_rgba();
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
            chart
                .draw_series(bars)?
                .label(short_id(&series.subscription_id).to_owned())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    drawn.ok()?;
    Some(svg)
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
        let overview = Overview::build(
            &rows,
            Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 10, 4, 0, 0, 0).unwrap(),
            None,
        );
        let svg = daily_usage_svg(&overview).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("aaaaaaaa") && svg.contains("bbbbbbbb"));
        assert!(svg.contains("VM hours"));
        assert!(svg.matches("<rect").count() >= 6);
    }

    #[test]
    fn nothing_is_drawn_without_data() {
        let t = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
        assert!(daily_usage_svg(&Overview::build(&[], t, t, None)).is_none());
    }
}
