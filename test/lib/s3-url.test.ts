import {expect} from 'chai'

import {LibraryBackupError} from '../../src/lib/errors.js'
import {formatS3Url, isS3Url, parseS3ObjectUrl, parseS3Url, splitS3Output} from '../../src/lib/storage/s3-url.js'

describe('s3:// locations', () => {
  it('reads a bucket and a prefix, with or without the trailing slash', () => {
    expect(parseS3Url('s3://my-bucket/vpo/backups/')).to.deep.equal({bucket: 'my-bucket', prefix: 'vpo/backups/'})
    expect(parseS3Url('s3://my-bucket/vpo/backups')).to.deep.equal({bucket: 'my-bucket', prefix: 'vpo/backups/'})
    expect(parseS3Url('s3://my-bucket')).to.deep.equal({bucket: 'my-bucket', prefix: ''})
    expect(parseS3Url('S3://my-bucket/')).to.deep.equal({bucket: 'my-bucket', prefix: ''})
    expect(formatS3Url(parseS3Url('s3://my-bucket/a/b'), 'x.tar.gz')).to.equal('s3://my-bucket/a/b/x.tar.gz')
  })

  it('splits an object URL into its location and name', () => {
    expect(parseS3ObjectUrl('s3://b-1/p/q/vpo-library-1.tar.gz')).to.deep.equal({
      bucket: 'b-1',
      prefix: 'p/q/',
      name: 'vpo-library-1.tar.gz',
    })
    expect(parseS3ObjectUrl('s3://b-1/vpo-library-1.tar.gz')).to.deep.equal({
      bucket: 'b-1',
      prefix: '',
      name: 'vpo-library-1.tar.gz',
    })
  })

  it('refuses what is not a usable location with a usage error (exit 2)', () => {
    for (const text of ['s3://', 's3://ab/', 's3://bad bucket/', 's3://b-1/a//b/', '/home/u/backups']) {
      expect(() => parseS3Url(text), text)
        .to.throw(LibraryBackupError)
        .with.property('exitCode', 2)
    }

    expect(() => parseS3ObjectUrl('s3://b-1/prefix/')).to.throw(/names a prefix, not an object/)
    expect(isS3Url('/home/u/backups')).to.equal(false)
    expect(isS3Url('s3://b-1/')).to.equal(true)
  })

  describe('--output s3:// (splitS3Output)', () => {
    it('a last part that is an archive name names the object; anything else is a prefix, slash or not', () => {
      expect(splitS3Output('s3://b-1/nas/library.tar.gz')).to.deep.equal({
        prefixUrl: 's3://b-1/nas/',
        name: 'library.tar.gz',
      })
      expect(splitS3Output('s3://b-1/library.tar.gz.age')).to.deep.equal({
        prefixUrl: 's3://b-1/',
        name: 'library.tar.gz.age',
      })
      expect(splitS3Output('s3://b-1/nas')).to.deep.equal({prefixUrl: 's3://b-1/nas/'})
      expect(splitS3Output('s3://b-1/nas/')).to.deep.equal({prefixUrl: 's3://b-1/nas/'})
      expect(splitS3Output('s3://b-1/nas/2026.11')).to.deep.equal({prefixUrl: 's3://b-1/nas/2026.11/'})
      expect(splitS3Output('s3://b-1')).to.deep.equal({prefixUrl: 's3://b-1/'})
    })

    it('a last part that is a file of another kind, or only an extension, is a usage error', () => {
      for (const text of [
        's3://b-1/nas/library.tgz',
        's3://b-1/x.zip',
        's3://b-1/x.tar',
        's3://b-1/x.age',
        's3://b-1/.tar.gz',
      ]) {
        expect(() => splitS3Output(text), text)
          .to.throw(LibraryBackupError)
          .with.property('exitCode', 2)
      }
    })
  })
})
