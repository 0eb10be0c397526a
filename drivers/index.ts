/** The device layer: transports, frame codec, link, printer and encoder clients, discovery. */
export * from './crc.ts';
export * from './device-client.ts';
export * from './encoder.ts';
export * from './frame.ts';
export * from './hid.ts';
export * from './link.ts';
export * from './open.ts';
export * from './printer.ts';
export * from './protocol.ts';
export * from './serial.ts';
export * from './transport.ts';
