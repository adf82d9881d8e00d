/**
 * NVIDIA DCGM exporter metric names (from NVIDIA/dcgm-exporter etc/default-counters.csv).
 * Framebuffer values are MiB, power W, temperature °C; XID_ERRORS is the last XID seen (a gauge).
 */
export const DCGM = {
  utilization: 'DCGM_FI_DEV_GPU_UTIL',
  framebufferUsed: 'DCGM_FI_DEV_FB_USED',
  framebufferFree: 'DCGM_FI_DEV_FB_FREE',
  power: 'DCGM_FI_DEV_POWER_USAGE',
  temperature: 'DCGM_FI_DEV_GPU_TEMP',
  xid: 'DCGM_FI_DEV_XID_ERRORS',
} as const;
