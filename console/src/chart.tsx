import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** A uPlot chart that follows its container's width and is rebuilt when its data changes. */
export function Chart({ options, data, label }: { options: Omit<uPlot.Options, 'width' | 'height'>; data: uPlot.AlignedData; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current!;
    const width = () => Math.max(280, el.clientWidth);
    const plot = new uPlot({ ...options, width: width(), height: 260 } as uPlot.Options, data, el);
    const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 260 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [options, data]);
  const total = data.slice(1).reduce((sum, s) => sum + (s as (number | null)[]).reduce<number>((a, v) => a + (v ?? 0), 0), 0);
  return <div class="chart" ref={box} role="img" aria-label={label} data-total={String(total)} />;
}

export const SERIES_COLORS: Record<string, string> = {
  Sent: '#2563eb',
  Delivered: '#16a34a',
  Bounced: '#dc2626',
  Opened: '#9333ea',
  Clicked: '#ea580c',
};

export function bars(): uPlot.Series.PathBuilder {
  return uPlot.paths.bars!({ size: [0.6, 80] });
}

export const utc = (ts: number) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');
