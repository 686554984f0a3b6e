package qualys

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A host asset as the QPS API sends one for each cloud (field names from
// Qualys' Asset Management API documentation of Ec2AssetSourceSimple,
// AzureAssetSourceSimple and GcpAssetSourceSimple, and the EC2 shape of IBM's
// connector's recorded host asset), with processors, volumes, an interface
// id and the docker-host flag, decodes to the same typed fields from JSON
// and from XML.
func TestCloudSourceFields(t *testing.T) {
	jsonDoc := `{"ServiceResponse":{"responseCode":"SUCCESS","count":1,"hasMoreRecords":"false","data":[{"HostAsset":{
	  "id":41000001,"name":"multi","isDockerHost":"true",
	  "processor":{"list":[{"HostAssetProcessor":{"name":"Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz","speed":2400}}]},
	  "volume":{"list":[{"HostAssetVolume":{"name":"/","size":8319852544,"free":5100273664}},{"HostAssetVolume":{"name":"/boot","size":"1023303680","free":"803127296"}}]},
	  "networkInterface":{"list":[{"HostAssetInterface":{"interfaceName":"eth0","interfaceId":"eni-0a1b2c","address":"10.1.2.3","macAddress":"0A:1B:2C:3D:4E:5F"}}]},
	  "sourceInfo":{"list":[
	    {"Ec2AssetSourceSimple":{"type":"EC_2","assetId":41000001,"region":"us-east-1","zone":"VPC","instanceId":"i-0abc123","instanceType":"t3.large",
	      "vpcId":"vpc-10db926a","subnetId":"subnet-52cd011f","groupId":"sg-01,sg-02","groupName":"web, ssh","privateDnsName":"ip-10-1-2-3.ec2.internal",
	      "publicDnsName":"ec2-3-4-5-6.compute-1.amazonaws.com","reservationId":"r-0b736fe7199f26903",
	      "ec2InstanceTags":{"tags":{"list":[{"EC2Tags":{"key":"Name","value":"web"}},{"EC2Tags":{"key":"env","value":"prod"}}]}}}},
	    {"AzureAssetSourceSimple":{"type":"AZURE","assetId":41000001,"location":"westeurope","vmId":"7d3f0f7e-1b2c-4d5e-8f90-1234567890ab",
	      "vmSize":"Standard_D2s_v3","subscriptionId":"sub-1","resourceGroupName":"rg-web","subnet":"default","state":"RUNNING",
	      "azureVmTags":{"tags":{"list":[{"AzureTags":{"key":"owner","value":"team-a"}}]}}}},
	    {"GcpAssetSourceSimple":{"type":"GCP","assetId":41000001,"zone":"europe-west1-b","instanceId":"4321","hostname":"gce-web-1",
	      "machineType":"e2-medium","network":"default","projectId":"my-project","projectIdNo":"123456789012"}}
	  ]}}}]}}`
	xmlDoc := `<ServiceResponse><responseCode>SUCCESS</responseCode><count>1</count><hasMoreRecords>false</hasMoreRecords><data><HostAsset>
	  <id>41000001</id><name>multi</name><isDockerHost>true</isDockerHost>
	  <processor><list><HostAssetProcessor><name>Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz</name><speed>2400</speed></HostAssetProcessor></list></processor>
	  <volume><list><HostAssetVolume><name>/</name><size>8319852544</size><free>5100273664</free></HostAssetVolume><HostAssetVolume><name>/boot</name><size>1023303680</size><free>803127296</free></HostAssetVolume></list></volume>
	  <networkInterface><list><HostAssetInterface><interfaceName>eth0</interfaceName><interfaceId>eni-0a1b2c</interfaceId><address>10.1.2.3</address><macAddress>0A:1B:2C:3D:4E:5F</macAddress></HostAssetInterface></list></networkInterface>
	  <sourceInfo><list>
	    <Ec2AssetSourceSimple><type>EC_2</type><assetId>41000001</assetId><region>us-east-1</region><zone>VPC</zone><instanceId>i-0abc123</instanceId><instanceType>t3.large</instanceType>
	      <vpcId>vpc-10db926a</vpcId><subnetId>subnet-52cd011f</subnetId><groupId>sg-01,sg-02</groupId><groupName>web, ssh</groupName><privateDnsName>ip-10-1-2-3.ec2.internal</privateDnsName>
	      <publicDnsName>ec2-3-4-5-6.compute-1.amazonaws.com</publicDnsName><reservationId>r-0b736fe7199f26903</reservationId>
	      <ec2InstanceTags><tags><list><EC2Tags><key>Name</key><value>web</value></EC2Tags><EC2Tags><key>env</key><value>prod</value></EC2Tags></list></tags></ec2InstanceTags></Ec2AssetSourceSimple>
	    <AzureAssetSourceSimple><type>AZURE</type><assetId>41000001</assetId><location>westeurope</location><vmId>7d3f0f7e-1b2c-4d5e-8f90-1234567890ab</vmId>
	      <vmSize>Standard_D2s_v3</vmSize><subscriptionId>sub-1</subscriptionId><resourceGroupName>rg-web</resourceGroupName><subnet>default</subnet><state>RUNNING</state>
	      <azureVmTags><tags><list><AzureTags><key>owner</key><value>team-a</value></AzureTags></list></tags></azureVmTags></AzureAssetSourceSimple>
	    <GcpAssetSourceSimple><type>GCP</type><assetId>41000001</assetId><zone>europe-west1-b</zone><instanceId>4321</instanceId><hostname>gce-web-1</hostname>
	      <machineType>e2-medium</machineType><network>default</network><projectId>my-project</projectId><projectIdNo>123456789012</projectIdNo></GcpAssetSourceSimple>
	  </list></sourceInfo></HostAsset></data></ServiceResponse>`
	want := &HostAsset{ID: 41000001, Name: "multi", IsDockerHost: true,
		Processors:        []Processor{{Name: "Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz", Speed: 2400}},
		Volumes:           []Volume{{Name: "/", Size: 8319852544, Free: 5100273664}, {Name: "/boot", Size: 1023303680, Free: 803127296}},
		NetworkInterfaces: []NetworkInterface{{InterfaceName: "eth0", InterfaceID: "eni-0a1b2c", Address: "10.1.2.3", MACAddress: "0A:1B:2C:3D:4E:5F"}},
		SourceInfo: []SourceInfo{
			{Kind: "Ec2AssetSourceSimple", Type: "EC_2", AssetID: 41000001, Region: "us-east-1", Zone: "VPC", InstanceID: "i-0abc123", InstanceType: "t3.large",
				VPCID: "vpc-10db926a", SubnetID: "subnet-52cd011f", SecurityGroups: []SecurityGroup{{ID: "sg-01", Name: "web"}, {ID: "sg-02", Name: "ssh"}},
				PrivateDNSName: "ip-10-1-2-3.ec2.internal", PublicDNSName: "ec2-3-4-5-6.compute-1.amazonaws.com", ReservationID: "r-0b736fe7199f26903",
				Tags: []SourceTag{{Key: "Name", Value: "web"}, {Key: "env", Value: "prod"}}},
			{Kind: "AzureAssetSourceSimple", Type: "AZURE", AssetID: 41000001, Location: "westeurope", InstanceID: "7d3f0f7e-1b2c-4d5e-8f90-1234567890ab",
				InstanceType: "Standard_D2s_v3", AccountID: "sub-1", ResourceGroup: "rg-web", SubnetID: "default", InstanceState: "RUNNING",
				Tags: []SourceTag{{Key: "owner", Value: "team-a"}}},
			{Kind: "GcpAssetSourceSimple", Type: "GCP", AssetID: 41000001, Zone: "europe-west1-b", InstanceID: "4321", Hostname: "gce-web-1",
				InstanceType: "e2-medium", Network: "default", AccountID: "my-project", ProjectNumber: "123456789012"},
		}}
	for name, doc := range map[string]string{"json": jsonDoc, "xml": xmlDoc} {
		t.Run(name, func(t *testing.T) {
			var got []*HostAsset
			for a, err := range DecodeHostAssets(strings.NewReader(doc)) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, a)
			}
			if len(got) != 1 {
				t.Fatalf("%d assets", len(got))
			}
			if d := cmp.Diff(want, got[0]); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
